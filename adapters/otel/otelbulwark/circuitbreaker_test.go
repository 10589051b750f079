package otelbulwark_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"go.opentelemetry.io/otel/attribute"
)

var (
	cbState = attribute.Key("bulwark.circuitbreaker.state")
	cbPrev  = attribute.Key("bulwark.circuitbreaker.previous_state")
	errDown = errors.New("inventory down")
)

func testBreakerConfig(clk *clocktest.Fake) circuitbreaker.Config {
	return circuitbreaker.Config{
		Window: circuitbreaker.LastCalls(4), FailureRateThreshold: 50, MinimumCalls: 2,
		OpenWait: 10 * time.Second, OpenWaitJitter: circuitbreaker.NoJitter, HalfOpenCalls: 1, HalfOpenSuccesses: 1, Clock: clk,
	}
}

func ok(context.Context) error   { return nil }
func fail(context.Context) error { return errDown }

// statePoints is the state gauge with 1 for the state in and 0 for the rest.
func statePoints(breaker, in string) []pt[int64] {
	var pts []pt[int64]
	for _, s := range []string{"closed", "half-open", "open", "forced-open", "disabled"} {
		v := int64(0)
		if s == in {
			v = 1
		}
		pts = append(pts, p(v, attrName.String(breaker), cbState.String(s)))
	}
	return pts
}

func TestBreakerThroughItsStates(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := testBreakerConfig(clk)
	var userChanges, userRejects int
	cfg.Name = "inventory"
	cfg.Observer = bulwark.Observers(r.tel, bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		switch e.(type) {
		case circuitbreaker.StateChange:
			userChanges++
		case circuitbreaker.Rejected:
			userRejects++
		}
	}))
	b, err := circuitbreaker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.tel.ObserveBreaker("inventory", b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	got := r.collect(t)
	wantGauge(t, got, "bulwark.circuitbreaker.state", "{state}", statePoints("inventory", "closed")...)
	wantGauge(t, got, "bulwark.circuitbreaker.failure_rate", "1", p(0.0, attrName.String("inventory")))
	wantGauge(t, got, "bulwark.circuitbreaker.slow_call_rate", "1", p(0.0, attrName.String("inventory")))
	absent(t, got, "bulwark.circuitbreaker.transitions", "bulwark.circuitbreaker.rejected_calls")

	// One success and one failure: 50% of 2 calls trips the breaker.
	_ = b.Do(ctx, ok)
	_ = b.Do(ctx, fail)
	for range 3 {
		if err := b.Do(ctx, ok); !errors.Is(err, circuitbreaker.ErrOpen) {
			t.Fatalf("Do on an open breaker: %v", err)
		}
	}
	got = r.collect(t)
	wantGauge(t, got, "bulwark.circuitbreaker.state", "{state}", statePoints("inventory", "open")...)
	wantGauge(t, got, "bulwark.circuitbreaker.failure_rate", "1", p(0.5, attrName.String("inventory")))
	wantCounter(t, got, "bulwark.circuitbreaker.transitions", "{transition}",
		p(int64(1), attrName.String("inventory"), cbState.String("open"), cbPrev.String("closed")))
	wantCounter(t, got, "bulwark.circuitbreaker.rejected_calls", "{call}",
		p(int64(3), attrName.String("inventory"), cbState.String("open")))

	// After the wait, a successful probe closes it again.
	clk.Advance(10 * time.Second)
	if err := b.Do(ctx, ok); err != nil {
		t.Fatalf("probe: %v", err)
	}
	got = r.collect(t)
	wantGauge(t, got, "bulwark.circuitbreaker.state", "{state}", statePoints("inventory", "closed")...)
	wantCounter(t, got, "bulwark.circuitbreaker.transitions", "{transition}",
		p(int64(1), attrName.String("inventory"), cbState.String("open"), cbPrev.String("closed")),
		p(int64(1), attrName.String("inventory"), cbState.String("half-open"), cbPrev.String("open")),
		p(int64(1), attrName.String("inventory"), cbState.String("closed"), cbPrev.String("half-open")))

	// Operators' states are reported too.
	b.ForceOpen()
	_ = b.Do(ctx, ok)
	got = r.collect(t)
	wantGauge(t, got, "bulwark.circuitbreaker.state", "{state}", statePoints("inventory", "forced-open")...)
	wantCounter(t, got, "bulwark.circuitbreaker.rejected_calls", "{call}",
		p(int64(3), attrName.String("inventory"), cbState.String("open")),
		p(int64(1), attrName.String("inventory"), cbState.String("forced-open")))

	if userChanges != 4 || userRejects != 4 {
		t.Errorf("the user's observer saw %d changes and %d rejections, want 4 and 4", userChanges, userRejects)
	}

	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	got = r.collect(t)
	absent(t, got, "bulwark.circuitbreaker.state", "bulwark.circuitbreaker.failure_rate")
}

func TestKeyedBreaker(t *testing.T) {
	for _, keys := range []bool{false, true} {
		r := newRig(t, keys)
		clk := clocktest.New(epoch)
		cfg := circuitbreaker.DefaultKeyedConfig[string]()
		cfg.Breaker = testBreakerConfig(clk)
		cfg.Breaker.Name, cfg.Breaker.Observer = "hosts", r.tel
		k, err := circuitbreaker.NewKeyed(cfg)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := otelbulwark.ObserveKeyedBreaker(r.tel, "hosts", k)
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Unregister()
		ctx := context.Background()
		_ = k.Do(ctx, "a", fail)
		_ = k.Do(ctx, "a", fail)
		_ = k.Do(ctx, "a", ok)
		_ = k.Do(ctx, "b", ok)

		hostA := []attribute.KeyValue{attrName.String("hosts")}
		if keys {
			hostA = append(hostA, attrKey.String("a"))
		}
		got := r.collect(t)
		wantCounter(t, got, "bulwark.circuitbreaker.transitions", "{transition}",
			p(int64(1), append(hostA, cbState.String("open"), cbPrev.String("closed"))...))
		wantCounter(t, got, "bulwark.circuitbreaker.rejected_calls", "{call}",
			p(int64(1), append(hostA, cbState.String("open"))...))
		wantGauge(t, got, "bulwark.circuitbreaker.keyed.breakers", "{breaker}", p(int64(2), attrName.String("hosts")))
		wantGauge(t, got, "bulwark.circuitbreaker.keyed.open_breakers", "{breaker}", p(int64(1), attrName.String("hosts")))
		wantCounter(t, got, "bulwark.circuitbreaker.keyed.suppressed_trips", "{trip}", p(int64(0), attrName.String("hosts")))
		wantCounter(t, got, "bulwark.circuitbreaker.keyed.evictions", "{breaker}", p(int64(0), attrName.String("hosts")))
	}
}
