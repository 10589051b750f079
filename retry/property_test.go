package retry_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/bulwark-go/bulwark/retry"
)

// TestDoProperty runs the retry loop on seeded random scripts of outcomes
// and limits, and checks what Do returns, how often op ran and which hooks
// fired against a model of the rules.
func TestDoProperty(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	const (
		ok = iota
		transient
		permanent
		rejected // RetryIf says no
	)
	for iter := range 2000 {
		script := make([]int, 1+rng.IntN(12))
		for i := range script {
			script[i] = []int{ok, transient, transient, transient, permanent, rejected}[rng.IntN(6)]
		}
		maxAttempts := rng.IntN(8) // 0: no limit (retry.Unlimited)
		limit := maxAttempts
		if limit == 0 {
			limit = retry.Unlimited
		}
		calls, retries, giveUps := 0, 0, 0
		r, err := retry.New(retry.Config{
			MaxAttempts: limit,
			Backoff:     retry.Constant{},
			RetryIf:     func(err error) bool { return !errors.Is(err, errPoison) },
			Observer:    counting(&retries, &giveUps),
		})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Do(context.Background(), func(context.Context) error {
			calls++
			if calls > len(script) {
				return nil
			}
			switch script[calls-1] {
			case transient:
				return errTransient
			case permanent:
				return retry.Permanent(errTransient)
			case rejected:
				return errPoison
			}
			return nil
		})

		// Model: walk the script until success, a non-retryable error, or
		// the attempt limit.
		wantCalls, wantReason := 0, error(nil)
		for {
			wantCalls++
			outcome := ok
			if wantCalls <= len(script) {
				outcome = script[wantCalls-1]
			}
			if outcome == ok {
				break
			}
			if outcome != transient {
				wantReason = retry.ErrNotRetryable
				break
			}
			if maxAttempts > 0 && wantCalls == maxAttempts {
				wantReason = retry.ErrMaxAttempts
				break
			}
		}
		if calls != wantCalls {
			t.Fatalf("iteration %d, script %v, MaxAttempts %d: op ran %d times, want %d", iter, script, maxAttempts, calls, wantCalls)
		}
		if wantReason == nil {
			if err != nil || giveUps != 0 {
				t.Fatalf("iteration %d, script %v, MaxAttempts %d: err %v, %d give-ups; want success", iter, script, maxAttempts, err, giveUps)
			}
		} else {
			var e *retry.Error
			if !errors.As(err, &e) || e.Reason != wantReason || e.Attempts != calls || giveUps != 1 {
				t.Fatalf("iteration %d, script %v, MaxAttempts %d: err %v, %d give-ups; want reason %v after %d attempts", iter, script, maxAttempts, err, giveUps, wantReason, calls)
			}
		}
		if retries != calls-1 {
			t.Fatalf("iteration %d: %d retries for %d attempts", iter, retries, calls)
		}
	}
}
