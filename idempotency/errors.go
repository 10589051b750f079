package idempotency

import (
	"errors"
	"strconv"
	"time"
)

var (
	// ErrInProgress reports that another attempt holds the key and its
	// lease is live: the caller did not wait for its outcome, or waited
	// Config.Wait without seeing it. Try again later. Keeper.Start returns
	// it as an *InProgressError, which says how long until the holder's
	// lease ends.
	ErrInProgress = errors.New("idempotency: the first request with this key is still in progress")

	// ErrMismatch reports that the key was first used with a different
	// request (a different fingerprint). The stored outcome belongs to
	// that request and is not returned.
	ErrMismatch = errors.New("idempotency: the key was used with a different request")

	// ErrLeaseLost reports that the attempt no longer holds its key: its
	// lease ran out and another attempt took the key over, so the operation
	// may have run twice. The other attempt's outcome is the one stored.
	ErrLeaseLost = errors.New("idempotency: the lease on the key was lost to another attempt")

	// ErrInvalidKey reports an empty key.
	ErrInvalidKey = errors.New("idempotency: the key must not be empty")
)

// Final marks err as the outcome of an operation that must not run again
// (a payment the bank declined, say): Do stores it and replays it to every
// retry as a *StoredError instead of releasing the key. Errors not marked
// Final release the key, so a retry runs the operation again. Final(nil)
// is nil.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &finalError{err}
}

type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// StoredError is a Final error replayed from a stored outcome. Only its
// message survives the store; compare Message, not identity.
type StoredError struct {
	Message string
}

func (e *StoredError) Error() string { return e.Message }

// InProgressError is the error of a request whose key another attempt
// holds. It matches ErrInProgress.
type InProgressError struct {
	// Ref is the key.
	Ref Ref
	// Wait is how long until the holder's lease ends, as read when Start
	// gave up (at least 1ms): by then the holder has completed or
	// released the key (or checkpointed, which renews the lease), or is
	// presumed dead, and a retry may take the key over.
	Wait time.Duration
}

func (e *InProgressError) Error() string {
	return "idempotency: the first request with key " + strconv.Quote(e.Ref.Key) + " is still in progress; its lease ends in " + e.Wait.String()
}

// Is reports whether target is ErrInProgress.
func (e *InProgressError) Is(target error) bool { return target == ErrInProgress }

// RetryAfter returns Wait: the longest a retry must wait to find the key
// completed, released or free for a takeover. bulwarkhttp sends it as the
// Retry-After of its 409 answer.
func (e *InProgressError) RetryAfter() time.Duration { return e.Wait }
