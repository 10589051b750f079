// Package fallback measures bulwark's fallback beside failsafe-go's fallback
// policy: a call that succeeds (the fallback stays out of the way) and a
// call that fails and is answered with a fixed value.
package fallback

import (
	"context"
	"errors"
	"testing"

	"github.com/failsafe-go/failsafe-go"
	fsfallback "github.com/failsafe-go/failsafe-go/fallback"

	"github.com/bulwark-go/bulwark/fallback"
)

var errDown = errors.New("dependency down")

func BenchmarkFallback(b *testing.B) {
	ctx := context.Background()
	for _, outcome := range []struct {
		name string
		op   func() (int, error)
	}{
		{"success", func() (int, error) { return 7, nil }},
		{"failure", func() (int, error) { return 0, errDown }},
	} {
		b.Run("impl=bulwark/outcome="+outcome.name, func(b *testing.B) {
			fb, err := fallback.New(fallback.Value(42), fallback.Config{})
			if err != nil {
				b.Fatal(err)
			}
			op := func(context.Context) (int, error) { return outcome.op() }
			b.ReportAllocs()
			for b.Loop() {
				_, _ = fb.Call(ctx, op)
			}
		})
		b.Run("impl=failsafe-go/outcome="+outcome.name, func(b *testing.B) {
			exec := failsafe.With[int](fsfallback.NewWithResult(42)).WithContext(ctx)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = exec.Get(outcome.op)
			}
		})
	}
}
