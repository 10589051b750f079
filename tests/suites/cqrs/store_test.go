package cqrs_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/cqrs"
)

// readModel is the in-memory database of this package's store: the rows
// (projection, position) the suite's read model holds, changed only by
// committed transactions.
type readModel struct {
	mu   sync.Mutex
	rows map[string][]int64
}

// tx is a transaction on a readModel: the changes a projection's handler
// made, applied at commit.
type tx struct {
	changes []change
}

// change adds a row (projection, position), or clears a projection's rows.
type change struct {
	projection string
	position   int64
	clear      bool
}

func (m *readModel) commit(t *tx) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range t.changes {
		if c.clear {
			delete(m.rows, c.projection)
		} else {
			m.rows[c.projection] = append(m.rows[c.projection], c.position)
		}
	}
}

func (m *readModel) recorded(_ *testing.T, projection string) []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.rows[projection])
	slices.Sort(out)
	return out
}

// store is a transactional cqrs.Store of this package: it keeps
// checkpoints in a cqrs.MemoryStore and commits what the projection wrote
// through its *tx to the read model with the checkpoint, or nothing. flaw
// names its deliberate defect ("" for none).
type store struct {
	mem  *cqrs.MemoryStore
	rm   *readModel
	flaw string
}

var _ cqrs.Store[*tx] = (*store)(nil)

// errRead ends the Update that only reads a checkpoint ("unlocked-updates").
var errRead = errors.New("read only")

func (s *store) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, t *tx, cp *cqrs.Checkpoint) error) error {
	if s.flaw == "unlocked-updates" { // reads, runs fn, then writes: no lock held between
		var cp cqrs.Checkpoint
		if err := s.mem.Update(ctx, name, version, func(_ context.Context, _ cqrs.NoTx, c *cqrs.Checkpoint) error {
			cp = *c
			return errRead
		}); !errors.Is(err, errRead) {
			return err
		}
		t := new(tx)
		if err := fn(ctx, t, &cp); err != nil {
			return err
		}
		s.rm.commit(t)
		return s.mem.Update(ctx, name, version, func(_ context.Context, _ cqrs.NoTx, c *cqrs.Checkpoint) error {
			*c = cp
			return nil
		})
	}
	err := s.mem.Update(ctx, name, version, func(ctx context.Context, _ cqrs.NoTx, cp *cqrs.Checkpoint) error {
		t := new(tx)
		if err := fn(ctx, t, cp); err != nil {
			if s.flaw == "commits-failed-writes" {
				s.rm.commit(t)
			}
			return err
		}
		if s.flaw != "checkpoint-without-writes" {
			s.rm.commit(t)
		}
		return nil
	})
	if err != nil && s.flaw == "stores-failed-new-checkpoint" {
		_ = s.mem.Update(context.WithoutCancel(ctx), name, version, func(context.Context, cqrs.NoTx, *cqrs.Checkpoint) error { return nil })
	}
	return err
}

func (s *store) List(ctx context.Context) ([]cqrs.Checkpoint, error) {
	cps, err := s.mem.List(ctx)
	if s.flaw == "unsorted-list" {
		slices.Reverse(cps)
	}
	return cps, err
}

// record and clearRows are the suite's Record and Clear: writes through t.
func record(_ context.Context, t *tx, projection string, position int64) error {
	t.changes = append(t.changes, change{projection: projection, position: position})
	return nil
}

func clearRows(_ context.Context, t *tx, projection string) error {
	t.changes = append(t.changes, change{projection: projection, clear: true})
	return nil
}
