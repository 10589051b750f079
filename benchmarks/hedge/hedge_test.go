// Package hedge measures bulwark's hedge beside failsafe-go's hedge policy,
// the one Go peer with hedging: what a hedged call costs when its first
// attempt answers at once, and when a hedge wins and the first attempt must
// be cancelled and waited for.
package hedge

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/hedgepolicy"

	"github.com/bulwark-go/bulwark/hedge"
)

// impl is one library's hedging with the given delay and one hedge; call
// runs op, which sees each attempt's context, through it.
type impl struct {
	name string
	make func(b *testing.B, delay time.Duration) (call func(op func(context.Context) error) error)
}

var impls = []impl{
	{"bulwark", func(b *testing.B, delay time.Duration) func(func(context.Context) error) error {
		if delay == 0 {
			delay = hedge.NoDelay // every attempt at once
		}
		h, err := hedge.New(hedge.Config{Delay: delay, MaxHedges: 1, Percentile: hedge.NoPercentile, AllIdempotent: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		return func(op func(context.Context) error) error { return h.Do(ctx, op) }
	}},
	{"failsafe-go", func(_ *testing.B, delay time.Duration) func(func(context.Context) error) error {
		exec := failsafe.With[any](hedgepolicy.NewWithDelay[any](delay)).WithContext(context.Background())
		return func(op func(context.Context) error) error {
			return exec.RunWithExecution(func(e failsafe.Execution[any]) error { return op(e.Context()) })
		}
	}},
}

// BenchmarkFastCall is a hedged call whose first attempt answers at once,
// long before the hedge delay: the cost of being ready to hedge.
func BenchmarkFastCall(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.make(b, time.Second)
			op := func(context.Context) error { return nil }
			b.ReportAllocs()
			for b.Loop() {
				if call(op) != nil {
					b.Fatal("call failed")
				}
			}
		})
	}
}

// BenchmarkHedgeWins starts the hedge at once (zero delay). Of the two
// attempts of each call one hangs until cancelled and the other answers at
// once: the cost of racing two attempts and cancelling and waiting for the
// loser.
func BenchmarkHedgeWins(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call := im.make(b, 0)
			var attempts atomic.Int64
			op := func(ctx context.Context) error {
				if attempts.Add(1)%2 == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
			b.ReportAllocs()
			for b.Loop() {
				if call(op) != nil {
					b.Fatal("call failed")
				}
			}
		})
	}
}
