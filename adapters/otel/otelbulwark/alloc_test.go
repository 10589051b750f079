package otelbulwark_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
)

// nop is an observer that does nothing: what a pattern costs with an
// observer set, whatever the observer does.
var nop = bulwark.ObserverFunc(func(context.Context, bulwark.Event) {})

// TestObservingRejectionsAllocatesNothing checks, on an SDK meter, that
// Observe counts a rejection without allocating once its series exists,
// with keys recorded or not.
func TestObservingRejectionsAllocatesNothing(t *testing.T) {
	open := &circuitbreaker.OpenError{State: circuitbreaker.StateOpen}
	for _, keys := range []bool{false, true} {
		r := newRig(t, keys)
		ctx := context.Background()
		for _, e := range []bulwark.Event{
			circuitbreaker.Rejected{Name: "inventory", Err: open},
			circuitbreaker.Rejected{Name: "hosts", Key: "host-1", Err: open},
			bulkhead.Rejected{Name: "db", Limit: 4},
			bulkhead.Rejected{Name: "tenants", Key: "acme", Limit: 4},
			ratelimit.Rejected{Name: "api"},
			ratelimit.Rejected{Name: "clients", Key: "alice"},
			bulwarkhttp.Shed{Name: "edge", Err: bulkhead.ErrFull},
			bulwarkhttp.Limited{Name: "edge", Key: "10.0.0.1"},
		} {
			r.tel.Observe(ctx, e) // the series' first count makes it
			if n := testing.AllocsPerRun(200, func() { r.tel.Observe(ctx, e) }); n != 0 {
				t.Errorf("keys=%v: Observe(%#v) allocates %v times", keys, e, n)
			}
		}
	}
}

// TestTelemetryAddsNoAllocationsToAPattern checks, on an SDK meter, that a
// pattern observed by a Telemetry allocates exactly what it does with an
// observer that does nothing, on its success path and on the rejections it
// reports. (A pattern that reports an event allocates the event itself,
// whatever its observer does.)
func TestTelemetryAddsNoAllocationsToAPattern(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		make func(obs bulwark.Observer) func()
	}{
		{"breaker success", func(obs bulwark.Observer) func() {
			b := newBreaker(t, r, obs, false)
			return func() { _ = b.Do(ctx, ok) }
		}},
		{"breaker rejection", func(obs bulwark.Observer) func() {
			b := newBreaker(t, r, obs, true)
			return func() { _ = b.Do(ctx, ok) }
		}},
		{"bulkhead full", func(obs bulwark.Observer) func() {
			b, _ := bulkhead.New(bulkhead.Config{Name: "db", Observer: obs, MaxConcurrent: 1})
			_, _ = b.TryAcquire()
			return func() { _ = b.Do(ctx, ok) }
		}},
		{"rate limit rejection", func(obs bulwark.Observer) func() {
			l, _ := ratelimit.New(ratelimit.Config{Name: "api", Observer: obs, Limit: 1, Period: 1e9, Clock: clocktest.New(epoch)})
			_ = l.Do(ctx, ok)
			return func() { _ = l.Do(ctx, ok) }
		}},
		{"timeout success", func(obs bulwark.Observer) func() {
			to, _ := timeout.New(timeout.Config{Name: "search", Observer: obs, Timeout: 1e9})
			return func() { _ = to.Do(ctx, ok) }
		}},
	} {
		withNop := testing.AllocsPerRun(200, tc.make(nop))
		withTelemetry := testing.AllocsPerRun(200, tc.make(r.tel))
		if withTelemetry != withNop {
			t.Errorf("%s: %v allocations observed by a Telemetry, %v by an observer that does nothing", tc.name, withTelemetry, withNop)
		}
	}
}

// newBreaker returns a breaker named inventory reporting to obs, with its
// gauges registered when obs is the rig's Telemetry, and forced open when
// open is set.
func newBreaker(t testing.TB, r *rig, obs bulwark.Observer, open bool) *circuitbreaker.Breaker {
	b, err := circuitbreaker.New(circuitbreaker.Config{Name: "inventory", Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if obs == bulwark.Observer(r.tel) {
		reg, err := r.tel.ObserveBreaker("inventory", b)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = reg.Unregister() })
	}
	if open {
		b.ForceOpen()
	}
	return b
}
