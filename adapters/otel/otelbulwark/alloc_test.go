package otelbulwark_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
)

// TestInstrumentingAddsNoAllocations checks, on an SDK meter, that an
// instrumented pattern allocates exactly what the bare one does on its
// success path and on the rejections it counts.
func TestInstrumentingAddsNoAllocations(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		make func(instrument bool) func()
	}{
		{"breaker success", func(instrument bool) func() {
			b := newBreaker(t, r, instrument, false)
			return func() { _ = b.Do(ctx, ok) }
		}},
		{"breaker rejection", func(instrument bool) func() {
			b := newBreaker(t, r, instrument, true)
			return func() { _ = b.Do(ctx, ok) }
		}},
		{"bulkhead full", func(instrument bool) func() {
			cfg := bulkhead.Config{MaxConcurrent: 1}
			if instrument {
				r.tel.InstrumentBulkhead("db", &cfg)
			}
			b, _ := bulkhead.New(cfg)
			_, _ = b.TryAcquire()
			return func() { _ = b.Do(ctx, ok) }
		}},
		{"rate limit rejection", func(instrument bool) func() {
			cfg := ratelimit.Config{Limit: 1, Period: 1e9, Clock: clocktest.New(epoch)}
			if instrument {
				r.tel.InstrumentRateLimit("api", &cfg)
			}
			l, _ := ratelimit.New(cfg)
			_ = l.Allow()
			return func() { _ = l.Allow() }
		}},
		{"timeout success", func(instrument bool) func() {
			cfg := timeout.Config{Timeout: 1e9}
			if instrument {
				r.tel.InstrumentTimeout("search", &cfg)
			}
			to, _ := timeout.New(cfg)
			return func() { _ = to.Do(ctx, ok) }
		}},
	} {
		bare := testing.AllocsPerRun(200, tc.make(false))
		instrumented := testing.AllocsPerRun(200, tc.make(true))
		if instrumented != bare {
			t.Errorf("%s: %v allocations instrumented, %v bare", tc.name, instrumented, bare)
		}
	}
}

func newBreaker(t testing.TB, r *rig, instrument, open bool) *circuitbreaker.Breaker {
	cfg := circuitbreaker.DefaultConfig()
	if instrument {
		r.tel.InstrumentBreaker("inventory", &cfg)
	}
	b, err := circuitbreaker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if instrument {
		reg, err := r.tel.ObserveBreaker("inventory", b)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := t.(interface{ Cleanup(func()) }); ok {
			c.Cleanup(func() { _ = reg.Unregister() })
		}
	}
	if open {
		b.ForceOpen()
	}
	return b
}

// TestRejectionSeriesGoWithTheirPattern checks that the tallies behind the
// rejection counters do not outlive the pattern that counts into them.
func TestRejectionSeriesGoWithTheirPattern(t *testing.T) {
	r := newRig(t, false)
	func() {
		cfg := bulkhead.Config{MaxConcurrent: 1}
		r.tel.InstrumentBulkhead("short-lived", &cfg)
		b, _ := bulkhead.New(cfg)
		_, _ = b.TryAcquire()
		_ = b.Do(context.Background(), ok)
		wantCounter(t, r.collect(t), "bulwark.bulkhead.rejected_calls", "{call}", p(int64(1), attrName.String("short-lived")))
	}()
	runtime.GC()
	runtime.GC()
	absent(t, r.collect(t), "bulwark.bulkhead.rejected_calls")
}
