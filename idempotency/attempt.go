package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// Attempt is the claim of one request on its key: while it holds the key,
// no other request with that key runs. It ends with Complete (the outcome
// is stored for every retry) or Release (the next retry runs again); if its
// process dies first, the lease runs out and a retry takes the key over.
//
// A nil *Attempt stands for a request that has no key (AttemptFrom returns
// nil when the HTTP middleware let a request without a key through): there
// is no record, so its methods do nothing and report success, Number is 0
// and DownstreamKey is "". Code that runs with and without keys can call
// them unguarded. An Attempt is made by Keeper.Start only; the methods of
// a non-nil Attempt made otherwise panic.
type Attempt struct {
	k      *Keeper
	ref    Ref
	token  int64
	number int
	point  []byte
}

// check panics when a is a non-nil Attempt that Start did not make.
func (a *Attempt) check() {
	if a.k == nil {
		panic("idempotency: Attempt used without Keeper.Start")
	}
}

// Ref returns the record the attempt holds; the zero Ref for a nil Attempt.
func (a *Attempt) Ref() Ref {
	if a == nil {
		return Ref{}
	}
	return a.ref
}

// Number is 1 for the first attempt on a key, and counts up each time a
// retry takes over a key whose holder's lease ran out. An attempt with
// Number > 1 must expect that an earlier one did part of the work. A nil
// Attempt (no key) has Number 0.
func (a *Attempt) Number() int {
	if a == nil {
		return 0
	}
	return a.number
}

// RecoveryPoint returns the last point an earlier attempt on the key saved
// with Checkpoint, or nil. A takeover resumes from it instead of redoing
// side effects the earlier attempt finished.
func (a *Attempt) RecoveryPoint() []byte {
	if a == nil {
		return nil
	}
	return a.point
}

// Checkpoint saves point as the key's recovery point and renews the lease
// for another Config.Lease. Call it after each side effect that must not
// happen twice (the charge was created, the e-mail was sent), with what a
// takeover needs to go on from there. It returns an error wrapping
// ErrLeaseLost if another attempt took the key over. On a nil Attempt it
// does nothing: a request without a key is never taken over.
func (a *Attempt) Checkpoint(ctx context.Context, point []byte) error {
	if a == nil {
		return nil
	}
	a.check()
	k := a.k
	if err := k.store.Checkpoint(ctx, a.ref, a.token, point, after(k.now(), k.cfg.Lease)); err != nil {
		return fmt.Errorf("idempotency: checkpoint of key %q: %w", a.ref.Key, err)
	}
	a.point = append(a.point[:0:0], point...)
	return nil
}

// Complete stores outcome as the key's outcome, returned to every retry
// until the record expires (Config.TTL from now). It returns an error
// wrapping ErrLeaseLost if another attempt took the key over. On a nil
// Attempt it does nothing.
func (a *Attempt) Complete(ctx context.Context, outcome []byte) error {
	if a == nil {
		return nil
	}
	a.check()
	k := a.k
	if err := k.store.Complete(ctx, a.ref, a.token, outcome, after(k.now(), k.cfg.TTL)); err != nil {
		return fmt.Errorf("idempotency: completing key %q: %w", a.ref.Key, err)
	}
	k.waiters.settle(a.ref)
	return nil
}

// Release gives the key up without an outcome, so the next request with it
// runs the operation again. Use it when the operation failed in a way that
// is safe to retry (it had no effect). It returns an error wrapping
// ErrLeaseLost if another attempt took the key over. On a nil Attempt it
// does nothing.
func (a *Attempt) Release(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.check()
	if err := a.k.store.Release(ctx, a.ref, a.token); err != nil {
		return fmt.Errorf("idempotency: releasing key %q: %w", a.ref.Key, err)
	}
	a.k.waiters.settle(a.ref)
	return nil
}

// DownstreamKey returns the idempotency key to send with a call this
// attempt makes to another service (DeriveKey of its Ref and purpose), or
// "" for a nil Attempt: a request without a key passes none on.
func (a *Attempt) DownstreamKey(purpose string) string {
	if a == nil {
		return ""
	}
	return DeriveKey(a.ref, purpose)
}

// DeriveKey returns the idempotency key for a call made on behalf of the
// request ref, for the given purpose ("charge", "reserve-stock"; name the
// downstream and the operation). It is
//
//   - stable: the same ref and purpose always give the same key, so a
//     retried request (or a takeover after a crash) repeats its
//     downstream calls under the keys it used before, and the downstream
//     deduplicates them;
//   - distinct: another purpose, key or scope gives another key, so two
//     calls of one request, or the requests of two clients that happen to
//     use the same key, never share one downstream;
//   - bounded: 43 characters of base64url (a SHA-256 of the three,
//     each length-prefixed), whatever the inputs' length, and valid as an
//     Idempotency-Key header value.
func DeriveKey(ref Ref, purpose string) string {
	h := sha256.New()
	for _, part := range [...]string{ref.Scope, ref.Key, purpose} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		h.Write([]byte(part))
	}
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(h.Sum(sum[:0]))
}

type attemptKey struct{}

// WithAttempt returns a context that carries a, for AttemptFrom.
func WithAttempt(ctx context.Context, a *Attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

// AttemptFrom returns the Attempt that Do, Inbox or the HTTP middleware put
// into the context of the operation it runs, or nil when there is none (a
// request that came without a key). A nil Attempt is safe to use: see
// Attempt. Operations use it to read the attempt's number and recovery
// point, to save checkpoints and to derive downstream keys.
func AttemptFrom(ctx context.Context) *Attempt {
	a, _ := ctx.Value(attemptKey{}).(*Attempt)
	return a
}
