package cqrs_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

// memoryReadModel is a read model kept in memory, outside any transaction.
type memoryReadModel struct {
	mu   sync.Mutex
	rows map[string][]int64
}

func TestMemoryStoreConformance(t *testing.T) {
	leakcheck.Check(t)
	cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[cqrs.NoTx] {
		m := &memoryReadModel{rows: map[string][]int64{}}
		return cqrstest.Harness[cqrs.NoTx]{
			Store: cqrs.NewMemoryStore(),
			Record: func(_ context.Context, _ cqrs.NoTx, projection string, position int64) error {
				m.mu.Lock()
				defer m.mu.Unlock()
				m.rows[projection] = append(m.rows[projection], position)
				return nil
			},
			Clear: func(_ context.Context, _ cqrs.NoTx, projection string) error {
				m.mu.Lock()
				defer m.mu.Unlock()
				delete(m.rows, projection)
				return nil
			},
			Recorded: func(_ *testing.T, projection string) []int64 {
				m.mu.Lock()
				defer m.mu.Unlock()
				return slices.Sorted(slices.Values(m.rows[projection]))
			},
		}
	})
}
