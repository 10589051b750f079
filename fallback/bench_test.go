package fallback_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/fallback"
)

// BenchmarkCall measures a call that succeeds and one answered by a value
// fallback (benchmarks/fallback compares them with failsafe-go).
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	fb, err := fallback.New(fallback.Value(42), fallback.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func(context.Context) (int, error)
	}{
		{"outcome=success", func(context.Context) (int, error) { return 7, nil }},
		{"outcome=failure", func(context.Context) (int, error) { return 0, errDown }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = fb.Call(ctx, tc.op)
			}
		})
	}
}
