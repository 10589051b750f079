package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
)

// store is an idempotency.Store of this package: it keeps records in
// another store (idempotency.MemoryStore, or SQLite's when child processes
// must share them), and has the deliberate defect flaw names ("" for
// none).
type store struct {
	inner idempotency.Store
	flaw  string

	// For "serves-expired-to-losers": what each key was claimed with, and
	// the completed records, as a database's snapshot would hold them.
	mu        sync.Mutex
	claimedFP map[idempotency.Ref][]byte
	completed map[idempotency.Ref]idempotency.Record
}

var _ idempotency.Store = (*store)(nil)

func newStore(inner idempotency.Store, flaw string) *store {
	return &store{inner: inner, flaw: flaw, claimedFP: map[idempotency.Ref][]byte{}, completed: map[idempotency.Ref]idempotency.Record{}}
}

func (s *store) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	switch s.flaw {
	case "takes-live-lease": // judges leases as if the holder's were over
		c.Now = c.Now.Add(idempotencytest.ChildLease)
	case "serves-expired-to-losers":
		return s.claimFromSnapshot(ctx, c)
	}
	return s.inner.Claim(ctx, c)
}

// claimFromSnapshot claims as a statement that reads the table as it was
// when it began (issue 12's PostgreSQL defect): a claim that loses the race
// for an expired key gets back the old record, completed, instead of the
// winner's.
func (s *store) claimFromSnapshot(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	s.mu.Lock()
	old, had := s.completed[c.Ref]
	s.mu.Unlock()
	time.Sleep(time.Millisecond) // the statement's round trip
	rec, err := s.inner.Claim(ctx, c)
	if err != nil {
		return rec, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case rec.State == idempotency.Claimed:
		s.claimedFP[c.Ref] = c.Fingerprint
		delete(s.completed, c.Ref)
	case had && !old.ExpiresAt.After(c.Now):
		return old, nil
	}
	return rec, nil
}

func (s *store) Complete(ctx context.Context, ref idempotency.Ref, token int64, outcome []byte, expiresAt time.Time) error {
	if s.flaw == "text-outcome" { // keeps the outcome as text
		outcome = []byte(strings.ToValidUTF8(string(outcome), "\uFFFD"))
	}
	err := s.hide(s.inner.Complete(ctx, ref, token, outcome, expiresAt))
	if err == nil && s.flaw == "serves-expired-to-losers" {
		s.mu.Lock()
		s.completed[ref] = idempotency.Record{State: idempotency.Completed, Fingerprint: s.claimedFP[ref], Outcome: outcome, ExpiresAt: expiresAt}
		s.mu.Unlock()
	}
	return err
}

func (s *store) Release(ctx context.Context, ref idempotency.Ref, token int64) error {
	return s.hide(s.inner.Release(ctx, ref, token))
}

func (s *store) Checkpoint(ctx context.Context, ref idempotency.Ref, token int64, point []byte, leaseUntil time.Time) error {
	if s.flaw == "drops-recovery-point" { // extends the lease, forgets the point
		point = nil
	}
	return s.hide(s.inner.Checkpoint(ctx, ref, token, point, leaseUntil))
}

func (s *store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.inner.DeleteExpired(ctx, now, limit)
}

// hide returns err, except that with the "hides-lease-lost" flaw a write
// by a holder that lost its lease is reported done.
func (s *store) hide(err error) error {
	if s.flaw == "hides-lease-lost" && errors.Is(err, idempotency.ErrLeaseLost) {
		return nil
	}
	return err
}
