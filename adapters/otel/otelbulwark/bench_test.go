package otelbulwark_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark"
)

// BenchmarkBreakerSuccess measures a closed breaker's success path without
// an observer, with one that does nothing, and with a Telemetry (on an SDK
// meter, with its gauges registered).
func BenchmarkBreakerSuccess(b *testing.B) {
	benchBreaker(b, false)
}

// BenchmarkBreakerRejection measures a forced-open breaker's rejection,
// which a breaker with an observer reports.
func BenchmarkBreakerRejection(b *testing.B) {
	benchBreaker(b, true)
}

func benchBreaker(b *testing.B, open bool) {
	for _, impl := range []struct {
		name string
		obs  func(r *rig) bulwark.Observer
	}{
		{"bulwark", func(*rig) bulwark.Observer { return nil }},
		{"bulwark-nop", func(*rig) bulwark.Observer { return nop }},
		{"bulwark-otel", func(r *rig) bulwark.Observer { return r.tel }},
	} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			r := newRigB(b)
			br := newBreaker(b, r, impl.obs(r), open)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Do(ctx, ok)
				}
			})
		})
	}
}

// BenchmarkTrace measures the tracing policy around a successful call, with
// spans sampled and recorded.
func BenchmarkTrace(b *testing.B) {
	r := newRigB(b)
	p := r.tel.Trace("inventory")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Do(ctx, ok)
	}
}
