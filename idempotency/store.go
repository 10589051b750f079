package idempotency

import (
	"context"
	"fmt"
	"time"
)

// Store is the driver interface a back end implements. Every method is one
// atomic step on the record of one (scope, key), except DeleteExpired. The
// Keeper passes the current time in, so that every store judges leases and
// expiry by the same clock and tests can move it.
//
// Times passed in are whole milliseconds, so a store may keep them at that
// precision. Implementations must be safe for concurrent use by several
// goroutines and processes, and must pass idempotencytest.Run.
type Store interface {
	// Claim creates the record of c.Ref in progress, held by c.Token, when
	// there is none or it has expired (ExpiresAt <= c.Now), and returns it in
	// state Claimed with Attempt 1.
	//
	// When the record is in progress, its lease has ended (LeaseUntil <=
	// c.Now) and its fingerprint equals c.Fingerprint, Claim takes it over:
	// the token, LeaseUntil and ExpiresAt become c's, Attempt grows by one,
	// the recovery point is kept, and the record comes back as Claimed.
	//
	// Otherwise Claim changes nothing and returns the record as stored: state
	// InProgress or Completed, with its fingerprint, outcome and times.
	Claim(ctx context.Context, c Claim) (Record, error)

	// Complete stores outcome in the record held by token, makes it
	// Completed and sets its expiry. It returns ErrLeaseLost when the record
	// is no longer in progress under token.
	Complete(ctx context.Context, ref Ref, token int64, outcome []byte, expiresAt time.Time) error

	// Release deletes the record held by token, so that the next Claim runs
	// the operation again. It returns ErrLeaseLost when the record is no
	// longer in progress under token.
	Release(ctx context.Context, ref Ref, token int64) error

	// Checkpoint saves a recovery point in the record held by token and
	// extends its lease to leaseUntil (and its expiry, if that is earlier). It returns ErrLeaseLost when the
	// record is no longer in progress under token.
	Checkpoint(ctx context.Context, ref Ref, token int64, point []byte, leaseUntil time.Time) error

	// DeleteExpired removes up to limit records whose ExpiresAt <= now and
	// returns how many it removed. A store whose back end expires records by
	// itself (Redis) may return 0: its expired records are gone already.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Ref names a record: a key within a scope. Scope is the caller's identity
// or tenant; two scopes never share a record, whatever their keys.
type Ref struct {
	Scope string
	Key   string
}

// Claim is the argument of Store.Claim.
type Claim struct {
	Ref
	// Fingerprint identifies the request the key was sent with.
	Fingerprint []byte
	// Token is the new holder's fencing token, random and non-zero.
	Token int64
	// Now is the current time: records are judged against it.
	Now time.Time
	// LeaseUntil is when the claim lapses if its holder neither completes
	// nor releases it.
	LeaseUntil time.Time
	// ExpiresAt is when the record may be deleted (at least LeaseUntil).
	ExpiresAt time.Time
}

// State is the state of a record as Store.Claim reports it.
type State uint8

// The states of a record.
const (
	// Claimed: the caller of Claim now holds the record and runs the operation.
	Claimed State = iota + 1
	// InProgress: another holder's lease is live.
	InProgress
	// Completed: the operation ran; the record holds its outcome.
	Completed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case InProgress:
		return "in progress"
	case Completed:
		return "completed"
	}
	return "invalid"
}

// Record is a record as Store.Claim returns it.
type Record struct {
	State       State
	Fingerprint []byte
	// Token is the holder's fencing token; meaningful while the record is
	// in progress.
	Token int64
	// Attempt counts the claims of the record: 1 for the first, more after
	// takeovers of expired leases.
	Attempt int
	// Outcome is the stored outcome of a Completed record.
	Outcome []byte
	// RecoveryPoint is the last checkpoint saved by a holder, or nil.
	RecoveryPoint []byte
	LeaseUntil    time.Time
	ExpiresAt     time.Time
}

// Cleanup deletes the records of s that expired by now, calling
// s.DeleteExpired in batches until one comes back short, and returns how
// many it deleted in all. Keeper.Cleanup and the SQL adapters' inboxes
// use it.
func Cleanup(ctx context.Context, s Store, now time.Time) (int, error) {
	total := 0
	for {
		n, err := s.DeleteExpired(ctx, now, cleanupBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("idempotency: deleting expired records: %w", err)
		}
		if n < cleanupBatch {
			return total, nil
		}
	}
}
