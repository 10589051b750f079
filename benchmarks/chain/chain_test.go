// Package chain measures what bulwark.Chain itself adds to a call.
package chain

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark"
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
