package cqrs

import (
	"cmp"
	"context"
	"slices"
	"sync"
)

// MemoryStore is a Store that keeps checkpoints in memory: for tests,
// examples and read models that live in the same process (and are rebuilt
// when it starts). It has no transactions (NoTx): see NoTx for what that
// means for read models. It is safe for concurrent use.
type MemoryStore struct {
	mu          sync.Mutex // guards checkpoints and the records' stored and cp
	checkpoints map[memoryKey]*memoryRecord
}

var _ Store[NoTx] = (*MemoryStore)(nil)

type memoryKey struct {
	name    string
	version int
}

// memoryRecord is one projection's checkpoint and the lock Updates take.
type memoryRecord struct {
	lock   chan struct{} // holds a token while an Update runs
	stored bool          // committed at least once: List shows it
	cp     Checkpoint    // guarded by MemoryStore.mu
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{checkpoints: map[memoryKey]*memoryRecord{}}
}

// check panics on the zero MemoryStore.
func (s *MemoryStore) check() {
	if s.checkpoints == nil {
		panic("cqrs: MemoryStore used without NewMemoryStore")
	}
}

// Update implements Store.Update. It runs fn while holding the
// projection's lock, so fn must not call Update for the same projection.
func (s *MemoryStore) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx NoTx, cp *Checkpoint) error) error {
	s.check()
	if err := ctx.Err(); err != nil {
		return err
	}
	key := memoryKey{name, version}
	s.mu.Lock()
	rec, ok := s.checkpoints[key]
	if !ok {
		rec = &memoryRecord{lock: make(chan struct{}, 1), cp: Checkpoint{Name: name, Version: version}}
		s.checkpoints[key] = rec
	}
	s.mu.Unlock()
	select {
	case rec.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-rec.lock }()
	s.mu.Lock()
	cp := rec.cp
	s.mu.Unlock()
	if err := fn(ctx, NoTx{}, &cp); err != nil {
		return err
	}
	cp.Name, cp.Version = name, version
	s.mu.Lock()
	rec.cp, rec.stored = cp, true
	s.mu.Unlock()
	return nil
}

// List implements Store.List.
func (s *MemoryStore) List(ctx context.Context) ([]Checkpoint, error) {
	s.check()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	out := make([]Checkpoint, 0, len(s.checkpoints))
	for _, rec := range s.checkpoints {
		if rec.stored {
			out = append(out, rec.cp)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Checkpoint) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}
