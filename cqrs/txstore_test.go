package cqrs_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

// txStore is a transactional checkpoint store in memory, for tests: the
// read model's writes made through a *memTx are applied with the
// checkpoint, or dropped with it. It can fail Updates at random, before or
// after committing (an outcome the caller cannot know).
type txStore struct {
	inner *cqrs.MemoryStore

	mu       sync.Mutex
	rows     map[string][]int64
	rng      *rand.Rand // nil: no failures
	failRate float64
}

// memTx stages read-model writes until its Update commits.
type memTx struct {
	staged []func(rows map[string][]int64)
}

var errInjected = errors.New("injected store failure")

func newTxStore() *txStore {
	return &txStore{inner: cqrs.NewMemoryStore(), rows: map[string][]int64{}}
}

func (s *txStore) fail() (before, after bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng == nil || s.rng.Float64() >= s.failRate {
		return false, false
	}
	return s.rng.IntN(2) == 0, true
}

func (s *txStore) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx *memTx, cp *cqrs.Checkpoint) error) error {
	failBefore, failing := s.fail()
	if failing && failBefore {
		return errInjected
	}
	err := s.inner.Update(ctx, name, version, func(ctx context.Context, _ cqrs.NoTx, cp *cqrs.Checkpoint) error {
		tx := &memTx{}
		if err := fn(ctx, tx, cp); err != nil {
			return err
		}
		s.mu.Lock()
		for _, w := range tx.staged {
			w(s.rows)
		}
		s.mu.Unlock()
		return nil
	})
	if err == nil && failing {
		return errInjected // committed, but the caller is told otherwise
	}
	return err
}

func (s *txStore) List(ctx context.Context) ([]cqrs.Checkpoint, error) {
	if failBefore, failing := s.fail(); failing && failBefore {
		return nil, errInjected
	}
	return s.inner.List(ctx)
}

func (s *txStore) record(_ context.Context, tx *memTx, projection string, position int64) error {
	tx.staged = append(tx.staged, func(rows map[string][]int64) { rows[projection] = append(rows[projection], position) })
	return nil
}

func (s *txStore) clear(_ context.Context, tx *memTx, projection string) error {
	tx.staged = append(tx.staged, func(rows map[string][]int64) { delete(rows, projection) })
	return nil
}

func (s *txStore) recorded(projection string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows[projection])
}

// TestTransactionalStoreConformance runs the suite on txStore: the
// projector's exactly-once behaviour, checked without a database.
func TestTransactionalStoreConformance(t *testing.T) {
	leakcheck.Check(t)
	cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[*memTx] {
		s := newTxStore()
		return cqrstest.Harness[*memTx]{
			Store:         s,
			Transactional: true,
			Record:        s.record,
			Clear:         s.clear,
			Recorded: func(_ *testing.T, projection string) []int64 {
				return slices.Sorted(slices.Values(s.recorded(projection)))
			},
		}
	})
}
