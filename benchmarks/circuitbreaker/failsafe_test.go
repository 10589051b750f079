package circuitbreaker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"

	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// bulwarkBreaker opens on one failure and lets 3 probes through, all of
// which must succeed: the same settings as failsafeBreaker.
func bulwarkBreaker(t *testing.T, clk *clocktest.Fake, probes int) *circuitbreaker.Breaker {
	t.Helper()
	b, err := circuitbreaker.New(circuitbreaker.Config{
		Window: circuitbreaker.LastCalls(1), FailureRateThreshold: 100, MinimumCalls: 1,
		OpenWait: time.Minute, OpenWaitMultiplier: circuitbreaker.FixedOpenWait, OpenWaitJitter: circuitbreaker.NoJitter,
		HalfOpenCalls: probes, HalfOpenSuccesses: probes,
		Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func failsafeBreaker(probes uint) fscb.CircuitBreaker[any] {
	return fscb.NewBuilder[any]().WithFailureThreshold(1).WithSuccessThreshold(probes).WithDelay(time.Minute).Build()
}

// TestProbePermitInflation replays the failsafe-go 0.9.8 scenario the issue
// describes: with 3 half-open permits, a call admitted while the breaker was
// closed finishes while it is half-open, its result hands back a permit it
// never took, and a 4th probe gets through. bulwark tags results with the
// state they were admitted in and lets exactly 3 through.
func TestProbePermitInflation(t *testing.T) {
	t.Run("failsafe-go", func(t *testing.T) {
		cb := failsafeBreaker(3)
		if !cb.TryAcquirePermit() { // a slow call, admitted while closed
			t.Fatal("closed breaker refused a call")
		}
		cb.TryAcquirePermit()
		cb.RecordFailure() // trips
		cb.HalfOpen()      // as after the delay
		probes := 0
		for range 3 {
			if cb.TryAcquirePermit() {
				probes++
			}
		}
		cb.RecordSuccess() // the slow closed-state call finishes
		for range 3 {
			if cb.TryAcquirePermit() {
				probes++
			}
		}
		if probes != 4 {
			t.Fatalf("failsafe-go let %d probes through; this test documents 0.9.8 letting 4 through", probes)
		}
		t.Logf("failsafe-go 0.9.8: %d probes through for 3 permits", probes)
	})
	t.Run("bulwark", func(t *testing.T) {
		clk := clocktest.New(time.Unix(0, 0))
		b := bulwarkBreaker(t, clk, 3)
		slow, err := b.Allow(context.Background()) // admitted while closed
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Do(context.Background(), func(context.Context) error { return errDown }) // trips
		clk.Advance(time.Minute)
		probes := 0
		for range 3 {
			if _, err := b.Allow(context.Background()); err == nil {
				probes++
			}
		}
		slow.Done(nil)
		for range 3 {
			if _, err := b.Allow(context.Background()); err == nil {
				probes++
			}
		}
		if probes != 3 {
			t.Fatalf("bulwark let %d probes through for 3 permits", probes)
		}
		t.Logf("bulwark: %d probes through for 3 permits", probes)
	})
}

// TestPanickingProbe replays the other failsafe-go 0.9.8 bug: a probe that
// panics never returns its permit, and with one permit the breaker stays
// half-open and rejects everything for ever. In bulwark the panic counts as
// a failed probe: the breaker reopens and probes again after its wait.
func TestPanickingProbe(t *testing.T) {
	panics := func(run func()) (recovered bool) {
		defer func() { recovered = recover() != nil }()
		run()
		return false
	}
	t.Run("failsafe-go", func(t *testing.T) {
		cb := failsafeBreaker(1)
		exec := failsafe.With[any](cb)
		cb.HalfOpen()
		if !panics(func() { _ = exec.Run(func() error { panic("probe bug") }) }) {
			t.Fatal("the panic did not reach the caller")
		}
		stuck := 0
		for range 100 {
			if err := exec.Run(success); errors.Is(err, fscb.ErrOpen) {
				stuck++
			}
		}
		if !cb.IsHalfOpen() || stuck != 100 {
			t.Fatalf("failsafe-go: state %v, %d of 100 calls rejected; this test documents 0.9.8 wedging half-open", cb.State(), stuck)
		}
		t.Logf("failsafe-go 0.9.8: wedged %v after a panicking probe, %d of 100 calls rejected", cb.State(), stuck)
	})
	t.Run("bulwark", func(t *testing.T) {
		clk := clocktest.New(time.Unix(0, 0))
		b := bulwarkBreaker(t, clk, 1)
		_ = b.Do(context.Background(), func(context.Context) error { return errDown }) // trips
		clk.Advance(time.Minute)
		if !panics(func() { _ = b.Do(context.Background(), func(context.Context) error { panic("probe bug") }) }) {
			t.Fatal("the panic did not reach the caller")
		}
		if s := b.State(); s != circuitbreaker.StateOpen {
			t.Fatalf("after a panicking probe: %v, want open (a failed probe)", s)
		}
		clk.Advance(time.Minute)
		if err := b.Do(context.Background(), successCtx); err != nil {
			t.Fatalf("next probe: %v", err)
		}
		if s := b.State(); s != circuitbreaker.StateClosed {
			t.Fatalf("after a good probe: %v, want closed", s)
		}
	})
}
