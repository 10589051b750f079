// Package timeout measures what bulwark's timeout costs a call that finishes
// in time, beside failsafe-go's timeout policy and the context.WithTimeout a
// caller would write by hand (the floor: every timeout needs a context with
// a deadline, and the runtime's timer behind it).
package timeout

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fstimeout "github.com/failsafe-go/failsafe-go/timeout"

	"github.com/bulwark-go/bulwark/timeout"
)

// op is a call that returns at once, having looked at its context as a real
// call would.
func op(ctx context.Context) error { return ctx.Err() }

// BenchmarkTimeoutSuccess: one call, finished well before its one-minute
// deadline, from one goroutine and from RunParallel's.
func BenchmarkTimeoutSuccess(b *testing.B) {
	ctx := context.Background()
	impls := []struct {
		name string
		make func(b *testing.B) func() error
	}{
		{"bulwark", func(b *testing.B) func() error {
			tm, err := timeout.New(timeout.Config{Timeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			return func() error { return tm.Do(ctx, op) }
		}},
		{"failsafe-go", func(*testing.B) func() error {
			exec := failsafe.With[any](fstimeout.New[any](time.Minute)).WithContext(ctx)
			return func() error {
				return exec.RunWithExecution(func(e failsafe.Execution[any]) error { return op(e.Context()) })
			}
		}},
		{"context.WithTimeout", func(*testing.B) func() error {
			return func() error {
				c, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				return op(c)
			}
		}},
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name+"/goroutines=1", func(b *testing.B) {
			call := impl.make(b)
			b.ReportAllocs()
			for b.Loop() {
				_ = call()
			}
		})
	}
	for _, impl := range impls {
		b.Run("impl="+impl.name+"/goroutines=parallel", func(b *testing.B) {
			call := impl.make(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = call()
				}
			})
		})
	}
}
