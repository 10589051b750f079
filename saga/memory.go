package saga

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store in process memory, for tests, examples and
// programs whose sagas need not survive the process. It is safe for
// concurrent use by several orchestrators. Make it with NewMemoryStore: the
// zero MemoryStore's methods panic.
type MemoryStore struct {
	mu    sync.Mutex
	sagas map[string]*Record
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sagas: make(map[string]*Record)}
}

// check panics on a MemoryStore not made by NewMemoryStore.
func (m *MemoryStore) check() {
	if m == nil || m.sagas == nil {
		panic("saga: MemoryStore used without NewMemoryStore")
	}
}

// copyRecord returns rec with its own copy of Data, so neither the caller
// nor the store sees the other's later changes.
func copyRecord(rec Record) Record {
	rec.Data = slices.Clone(rec.Data)
	return rec
}

// Create implements Store.
func (m *MemoryStore) Create(ctx context.Context, rec Record) error {
	m.check()
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sagas[rec.ID]; ok {
		return fmt.Errorf("saga %s: %w", rec.ID, ErrExists)
	}
	rec = copyRecord(rec)
	m.sagas[rec.ID] = &rec
	return nil
}

// Update implements Store.
func (m *MemoryStore) Update(ctx context.Context, rec Record) error {
	m.check()
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.sagas[rec.ID]
	switch {
	case !ok:
		return fmt.Errorf("saga %s: %w", rec.ID, ErrNotFound)
	case cur.Version != rec.Version:
		return fmt.Errorf("saga %s: version %d, not %d: %w", rec.ID, cur.Version, rec.Version, ErrConflict)
	}
	next := copyRecord(rec)
	next.Name, next.Deadline, next.CreatedAt = cur.Name, cur.Deadline, cur.CreatedAt
	next.Version = cur.Version + 1
	*cur = next
	return nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, id string) (Record, error) {
	m.check()
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.sagas[id]
	if !ok {
		return Record{}, fmt.Errorf("saga %s: %w", id, ErrNotFound)
	}
	return copyRecord(*cur), nil
}

// Claim implements Store.
func (m *MemoryStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]Record, error) {
	m.check()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*Record
	for _, r := range m.sagas {
		if r.Name == name && !r.Status.Terminal() && !r.LeaseUntil.After(now) {
			due = append(due, r)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].LeaseUntil.Equal(due[j].LeaseUntil) {
			return due[i].LeaseUntil.Before(due[j].LeaseUntil)
		}
		return due[i].ID < due[j].ID
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]Record, 0, len(due))
	for _, r := range due {
		r.Owner, r.LeaseUntil = owner, until
		r.Version++
		out = append(out, copyRecord(*r))
	}
	return out, nil
}

// Renew implements Store.
func (m *MemoryStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	m.check()
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if r, ok := m.sagas[id]; ok && r.Owner == owner && !r.Status.Terminal() {
			r.LeaseUntil = until
		}
	}
	return nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, q ListQuery) ([]Record, error) {
	m.check()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for _, r := range m.sagas {
		if (q.Name == "" || r.Name == q.Name) && (q.Status == "" || r.Status == q.Status) && r.ID > q.After {
			out = append(out, copyRecord(*r))
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
