package idempotency

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// MemoryStore is a Store in the memory of one process, for tests, examples
// and single-process services. Records vanish with the process, so it gives
// no protection across restarts. Make it with NewMemoryStore: the methods
// of a zero MemoryStore panic.
type MemoryStore struct {
	mu      sync.Mutex
	records map[Ref]*memoryRecord
}

type memoryRecord struct {
	completed     bool
	fingerprint   []byte
	token         int64
	attempt       int
	outcome       []byte
	recoveryPoint []byte
	leaseUntil    time.Time
	expiresAt     time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{records: make(map[Ref]*memoryRecord)}
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, c Claim) (Record, error) {
	s.lock()
	defer s.mu.Unlock()
	r, ok := s.records[c.Ref]
	switch {
	case !ok || !r.expiresAt.After(c.Now):
		r = &memoryRecord{fingerprint: bytes.Clone(c.Fingerprint), attempt: 1}
		s.records[c.Ref] = r
	case !r.completed && !r.leaseUntil.After(c.Now) && bytes.Equal(r.fingerprint, c.Fingerprint):
		r.attempt++
	default:
		return r.export(), nil
	}
	r.token, r.leaseUntil, r.expiresAt = c.Token, c.LeaseUntil, c.ExpiresAt
	rec := r.export()
	rec.State = Claimed
	return rec, nil
}

// export returns the record as Claim reports it. Byte slices are shared:
// they are never modified in place, only replaced.
func (r *memoryRecord) export() Record {
	rec := Record{
		State:         InProgress,
		Fingerprint:   r.fingerprint,
		Token:         r.token,
		Attempt:       r.attempt,
		Outcome:       r.outcome,
		RecoveryPoint: r.recoveryPoint,
		LeaseUntil:    r.leaseUntil,
		ExpiresAt:     r.expiresAt,
	}
	if r.completed {
		rec.State = Completed
	}
	return rec
}

// lock takes the store's mutex, panicking if s was not made by
// NewMemoryStore.
func (s *MemoryStore) lock() {
	s.mu.Lock()
	if s.records == nil {
		s.mu.Unlock()
		panic("idempotency: MemoryStore used without NewMemoryStore")
	}
}

// held returns the record of ref if token holds it in progress.
func (s *MemoryStore) held(ref Ref, token int64) (*memoryRecord, error) {
	r, ok := s.records[ref]
	if !ok || r.completed || r.token != token {
		return nil, ErrLeaseLost
	}
	return r, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, ref Ref, token int64, outcome []byte, expiresAt time.Time) error {
	s.lock()
	defer s.mu.Unlock()
	r, err := s.held(ref, token)
	if err != nil {
		return err
	}
	r.completed = true
	r.outcome = bytes.Clone(outcome)
	r.expiresAt = expiresAt
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, ref Ref, token int64) error {
	s.lock()
	defer s.mu.Unlock()
	if _, err := s.held(ref, token); err != nil {
		return err
	}
	delete(s.records, ref)
	return nil
}

// Checkpoint implements Store.
func (s *MemoryStore) Checkpoint(_ context.Context, ref Ref, token int64, point []byte, leaseUntil time.Time) error {
	s.lock()
	defer s.mu.Unlock()
	r, err := s.held(ref, token)
	if err != nil {
		return err
	}
	r.recoveryPoint = bytes.Clone(point)
	r.leaseUntil = leaseUntil
	if r.expiresAt.Before(leaseUntil) {
		r.expiresAt = leaseUntil
	}
	return nil
}

// DeleteExpired implements Store.
func (s *MemoryStore) DeleteExpired(_ context.Context, now time.Time, limit int) (int, error) {
	s.lock()
	defer s.mu.Unlock()
	n := 0
	for ref, r := range s.records {
		if n >= limit {
			break
		}
		if !r.expiresAt.After(now) {
			delete(s.records, ref)
			n++
		}
	}
	return n, nil
}

// Len returns the number of records held, expired ones included.
func (s *MemoryStore) Len() int {
	s.lock()
	defer s.mu.Unlock()
	return len(s.records)
}
