// Package retry measures bulwark's retry beside failsafe-go's retry policy,
// avast/retry-go, sethvargo/go-retry and cenkalti/backoff v4 and v5: a call
// that succeeds at once, and a call that fails three attempts in a row with
// no wait between them (so the figures are the libraries' own cost, not a
// timer's).
package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	avast "github.com/avast/retry-go/v4"
	backoffv4 "github.com/cenkalti/backoff/v4"
	backoffv5 "github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/budget"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	sethvargo "github.com/sethvargo/go-retry"

	"github.com/bulwark-go/bulwark/retry"
)

var errDown = errors.New("dependency down")

// impl is one library set up for three attempts with no wait; call runs a
// call through it with op as the operation.
type impl struct {
	name string
	make func(b *testing.B) (call func(op func() error) error)
}

// Each peer is used as its documentation shows, with everything that can be
// built once built once, and its lightest way to say "no wait".
var impls = []impl{
	{"bulwark", func(b *testing.B) func(func() error) error {
		r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{}})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		return func(op func() error) error {
			return r.Do(ctx, func(context.Context) error { return op() })
		}
	}},
	{"failsafe-go", func(*testing.B) func(func() error) error {
		exec := failsafe.With[any](retrypolicy.NewBuilder[any]().WithMaxAttempts(3).Build()).WithContext(context.Background())
		return func(op func() error) error { return exec.Run(op) }
	}},
	{"retry-go", func(*testing.B) func(func() error) error {
		opts := []avast.Option{
			avast.Attempts(3), avast.Delay(0), avast.DelayType(avast.FixedDelay),
			avast.LastErrorOnly(true), avast.Context(context.Background()),
		}
		return func(op func() error) error { return avast.Do(op, opts...) }
	}},
	// sethvargo's backoffs keep per-call state, so each call builds one; only
	// errors wrapped with RetryableError are retried.
	{"sethvargo", func(*testing.B) func(func() error) error {
		noWait := sethvargo.BackoffFunc(func() (time.Duration, bool) { return 0, false })
		ctx := context.Background()
		return func(op func() error) error {
			return sethvargo.Do(ctx, sethvargo.WithMaxRetries(2, noWait), func(context.Context) error {
				if err := op(); err != nil {
					return sethvargo.RetryableError(err)
				}
				return nil
			})
		}
	}},
	{"backoff-v4", func(*testing.B) func(func() error) error {
		return func(op func() error) error {
			return backoffv4.Retry(op, backoffv4.WithMaxRetries(&backoffv4.ZeroBackOff{}, 2))
		}
	}},
	{"backoff-v5", func(*testing.B) func(func() error) error {
		ctx := context.Background()
		opts := []backoffv5.RetryOption{backoffv5.WithBackOff(&backoffv5.ZeroBackOff{}), backoffv5.WithMaxTries(3)}
		return func(op func() error) error {
			_, err := backoffv5.Retry(ctx, func() (struct{}, error) { return struct{}{}, op() }, opts...)
			return err
		}
	}},
}

func succeed() error { return nil }
func fail() error    { return errDown }

// BenchmarkSuccess is a call whose first attempt succeeds: what retrying
// costs when it is not needed, the common case.
func BenchmarkSuccess(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.make(b)
			b.ReportAllocs()
			for b.Loop() {
				if call(succeed) != nil {
					b.Fatal("call failed")
				}
			}
		})
	}
}

// BenchmarkFailure3 is a call whose three attempts all fail, with no wait
// between them.
func BenchmarkFailure3(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.make(b)
			attempts := 0
			op := func() error { attempts++; return fail() }
			b.ReportAllocs()
			for b.Loop() {
				if !errors.Is(call(op), errDown) {
					b.Fatal("call did not fail with the op's error")
				}
			}
			if attempts != 3*b.N {
				b.Fatalf("%d attempts for %d calls, want 3 each", attempts, b.N)
			}
		})
	}
}

// BenchmarkSuccessBudgeted is BenchmarkSuccess with a retry budget shared by
// every goroutine, as it is shared by every caller of a downstream; only
// failsafe-go among the peers has one (it bounds retries in flight rather
// than retries per call).
func BenchmarkSuccessBudgeted(b *testing.B) {
	budgeted := []impl{
		{"bulwark", func(b *testing.B) func(func() error) error {
			bg, err := retry.NewBudget(retry.DefaultBudgetConfig())
			if err != nil {
				b.Fatal(err)
			}
			r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{}, Budget: bg})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			return func(op func() error) error {
				return r.Do(ctx, func(context.Context) error { return op() })
			}
		}},
		{"failsafe-go", func(*testing.B) func(func() error) error {
			rp := retrypolicy.NewBuilder[any]().WithMaxAttempts(3).WithBudget(budget.New()).Build()
			exec := failsafe.With[any](rp).WithContext(context.Background())
			return func(op func() error) error { return exec.Run(op) }
		}},
	}
	for _, im := range budgeted {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.make(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if call(succeed) != nil {
						b.Error("call failed")
						return
					}
				}
			})
		})
	}
}
