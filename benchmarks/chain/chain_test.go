// Package chain measures composition: what bulwark.Chain itself adds to a
// call, and a realistic chain of retry, circuit breaker and bulkhead on the
// success path beside failsafe-go's executor with the same three policies.
package chain

import (
	"context"
	"testing"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	fsretry "github.com/failsafe-go/failsafe-go/retrypolicy"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
)

func nop(ctx context.Context, op func(context.Context) error) error { return op(ctx) }

func success(context.Context) error { return nil }

// BenchmarkChainOverhead compares Chain with the nested closures a user would
// write without it, around the same three pass-through policies held as
// bulwark.Policy values.
func BenchmarkChainOverhead(b *testing.B) {
	ctx := context.Background()
	x, y, z := bulwark.Policy(bulwark.PolicyFunc(nop)), bulwark.Policy(bulwark.PolicyFunc(nop)), bulwark.Policy(bulwark.PolicyFunc(nop))
	b.Run("impl=bulwark", func(b *testing.B) {
		p := bulwark.Chain(x, y, z)
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Do(ctx, success)
		}
	})
	b.Run("impl=closures", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = x.Do(ctx, func(ctx context.Context) error {
				return y.Do(ctx, func(ctx context.Context) error {
					return z.Do(ctx, success)
				})
			})
		}
	})
}

// bulwarkChain is retry (3 attempts) → breaker (defaults) → bulkhead (64
// permits), outermost first.
func bulwarkChain(b *testing.B) bulwark.Policy {
	r, err := retry.New(retry.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	br, err := circuitbreaker.New(circuitbreaker.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	bhCfg := bulkhead.DefaultConfig()
	bhCfg.MaxConcurrent = 64
	bh, err := bulkhead.New(bhCfg)
	if err != nil {
		b.Fatal(err)
	}
	return bulwark.Chain(r, br, bh)
}

// failsafeExecutor is the same three policies in failsafe-go, outermost first.
func failsafeExecutor() failsafe.Executor[any] {
	return failsafe.With[any](
		fsretry.NewBuilder[any]().WithMaxAttempts(3).Build(),
		fscb.NewWithDefaults[any](),
		fsbulkhead.New[any](64),
	)
}

// BenchmarkRetryBreakerBulkhead is the success path through the three
// policies, on one goroutine and on all of them.
func BenchmarkRetryBreakerBulkhead(b *testing.B) {
	ctx := context.Background()
	op := func() error { return nil }
	b.Run("impl=bulwark/mode=serial", func(b *testing.B) {
		p := bulwarkChain(b)
		b.ReportAllocs()
		for b.Loop() {
			_ = p.Do(ctx, success)
		}
	})
	b.Run("impl=failsafe-go/mode=serial", func(b *testing.B) {
		exec := failsafeExecutor()
		b.ReportAllocs()
		for b.Loop() {
			_ = exec.Run(op)
		}
	})
	b.Run("impl=bulwark/mode=parallel", func(b *testing.B) {
		p := bulwarkChain(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = p.Do(ctx, success)
			}
		})
	})
	b.Run("impl=failsafe-go/mode=parallel", func(b *testing.B) {
		exec := failsafeExecutor()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = exec.Run(op)
			}
		})
	})
}
