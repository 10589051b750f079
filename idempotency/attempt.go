package idempotency

import (
	"context"
	"fmt"
)

// Attempt is the claim of one request on its key: while it holds the key,
// no other request with that key runs. It ends with Complete (the outcome
// is stored for every retry) or Release (the next retry runs again); if its
// process dies first, the lease runs out and a retry takes the key over.
type Attempt struct {
	k      *Keeper
	ref    Ref
	token  int64
	number int
	point  []byte
}

// Ref returns the record the attempt holds.
func (a *Attempt) Ref() Ref { return a.ref }

// Number is 1 for the first attempt on a key, and counts up each time a
// retry takes over a key whose holder's lease ran out. An attempt with
// Number > 1 must expect that an earlier one did part of the work.
func (a *Attempt) Number() int { return a.number }

// RecoveryPoint returns the last point an earlier attempt on the key saved
// with Checkpoint, or nil. A takeover resumes from it instead of redoing
// side effects the earlier attempt finished.
func (a *Attempt) RecoveryPoint() []byte { return a.point }

// Checkpoint saves point as the key's recovery point and renews the lease
// for another Config.Lease. Call it after each side effect that must not
// happen twice (the charge was created, the e-mail was sent), with what a
// takeover needs to go on from there. It returns an error wrapping
// ErrLeaseLost if another attempt took the key over.
func (a *Attempt) Checkpoint(ctx context.Context, point []byte) error {
	if err := a.k.cfg.Store.Checkpoint(ctx, a.ref, a.token, point, a.k.now().Add(a.k.cfg.Lease)); err != nil {
		return fmt.Errorf("idempotency: checkpoint of key %q: %w", a.ref.Key, err)
	}
	a.point = append(a.point[:0:0], point...)
	return nil
}

// Complete stores outcome as the key's outcome, returned to every retry
// until the record expires (Config.TTL from now). It returns an error
// wrapping ErrLeaseLost if another attempt took the key over.
func (a *Attempt) Complete(ctx context.Context, outcome []byte) error {
	if err := a.k.cfg.Store.Complete(ctx, a.ref, a.token, outcome, a.k.now().Add(a.k.cfg.TTL)); err != nil {
		return fmt.Errorf("idempotency: completing key %q: %w", a.ref.Key, err)
	}
	a.k.waiters.settle(a.ref)
	return nil
}

// Release gives the key up without an outcome, so the next request with it
// runs the operation again. Use it when the operation failed in a way that
// is safe to retry (it had no effect). It returns an error wrapping
// ErrLeaseLost if another attempt took the key over.
func (a *Attempt) Release(ctx context.Context) error {
	if err := a.k.cfg.Store.Release(ctx, a.ref, a.token); err != nil {
		return fmt.Errorf("idempotency: releasing key %q: %w", a.ref.Key, err)
	}
	a.k.waiters.settle(a.ref)
	return nil
}

type attemptKey struct{}

// WithAttempt returns a context that carries a, for AttemptFrom.
func WithAttempt(ctx context.Context, a *Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// AttemptFrom returns the Attempt that Do or Middleware put into the
// context of the operation it runs, or nil. Operations use it to read the
// attempt's number and recovery point and to save checkpoints.
func AttemptFrom(ctx context.Context) *Attempt {
	a, _ := ctx.Value(attemptKey{}).(*Attempt)
	return a
}
