package idempotency

import (
	"context"
	"errors"
	"fmt"
)

// Outcome encodings of Do: a value or a Final error.
const (
	outcomeValue = 'v'
	outcomeError = 'e'
)

// Do runs op once for req's key and returns its outcome; every later call
// with the same key gets that outcome back without running op, until the
// record expires.
//
//   - op returns (v, nil): v is encoded with the Keeper's Codec and stored;
//     retries get the decoded copy.
//   - op returns an error marked with Final: the error's message is stored;
//     retries get a *StoredError with it.
//   - op returns any other error, or panics: the key is released, so the next
//     call runs op again. The error (or panic) reaches the caller.
//
// op receives a context carrying its Attempt (see AttemptFrom). Do returns
// ErrMismatch or an *InProgressError (matching ErrInProgress) without
// running op, as Keeper.Start does.
// If op succeeded but its Attempt lost the key to a takeover, Do returns
// op's value together with an error wrapping ErrLeaseLost.
func Do[T any](ctx context.Context, k *Keeper, req Request, op func(context.Context) (T, error)) (T, error) {
	var zero T
	att, stored, err := k.Start(ctx, req)
	if err != nil {
		return zero, err
	}
	if att == nil {
		return decodeOutcome[T](k.cfg.Codec, req.Key, stored)
	}
	v, err := runAttempt(ctx, att, op)
	// The outcome must reach the store even when the caller gave up.
	done := context.WithoutCancel(ctx)
	if err != nil {
		var final *finalError
		if !errors.As(err, &final) {
			if rerr := att.Release(done); rerr != nil {
				return zero, errors.Join(err, rerr)
			}
			return zero, err
		}
		if cerr := att.Complete(done, append([]byte{outcomeError}, err.Error()...)); cerr != nil {
			return zero, errors.Join(err, cerr)
		}
		return zero, err
	}
	data, err := k.cfg.Codec.Marshal(v)
	if err != nil {
		err = fmt.Errorf("idempotency: encoding the outcome of key %q: %w", req.Key, err)
		return zero, errors.Join(err, att.Release(done))
	}
	if err := att.Complete(done, append([]byte{outcomeValue}, data...)); err != nil {
		return v, err
	}
	return v, nil
}

// runAttempt runs op with att in its context and releases the key if op
// panics.
func runAttempt[T any](ctx context.Context, att *Attempt, op func(context.Context) (T, error)) (v T, err error) {
	ok := false
	defer func() {
		if !ok {
			_ = att.Release(context.WithoutCancel(ctx))
		}
	}()
	v, err = op(WithAttempt(ctx, att))
	ok = true
	return v, err
}

func decodeOutcome[T any](codec Codec, key string, stored []byte) (T, error) {
	var v T
	if len(stored) == 0 {
		return v, fmt.Errorf("idempotency: the stored outcome of key %q is empty; was the key used by something other than Do?", key)
	}
	switch stored[0] {
	case outcomeError:
		return v, &StoredError{Message: string(stored[1:])}
	case outcomeValue:
		if err := codec.Unmarshal(stored[1:], &v); err != nil {
			return v, fmt.Errorf("idempotency: decoding the stored outcome of key %q: %w", key, err)
		}
		return v, nil
	}
	return v, fmt.Errorf("idempotency: the stored outcome of key %q is not Do's (kind %q)", key, stored[0])
}
