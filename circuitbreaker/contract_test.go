package circuitbreaker

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// TestRejectionsMatchErrRejected: every rejection, whatever the state that
// made it, matches ErrOpen and bulwark.ErrRejected, and says which breaker
// rejected the call.
func TestRejectionsMatchErrRejected(t *testing.T) {
	if !errors.Is(ErrOpen, bulwark.ErrRejected) {
		t.Fatal("ErrOpen does not match bulwark.ErrRejected")
	}
	if ErrOpen.Error() != "circuitbreaker: open" {
		t.Fatalf("ErrOpen reads %q", ErrOpen)
	}
	b, fake, _ := newTest(t, func(c *Config) { c.Name = "inventory"; c.HalfOpenCalls, c.HalfOpenSuccesses = 1, 1 })
	trip(t, b)
	open := b.Do(bg, succeeds)
	fake.Advance(10 * time.Second)
	probe, _ := b.Allow(bg)
	halfOpen := b.Do(bg, succeeds)
	probe.Done(nil)
	b.ForceOpen()
	forced := b.Do(bg, succeeds)
	for _, tc := range []struct {
		err   error
		state State
		text  string
	}{
		{open, StateOpen, `circuitbreaker: "inventory" is open; retry after 10s`},
		{halfOpen, StateHalfOpen, `circuitbreaker: "inventory" is half-open; retry after 10s`},
		{forced, StateForcedOpen, `circuitbreaker: "inventory" is forced-open; retry after 10s`},
	} {
		var oe *OpenError
		if !errors.Is(tc.err, bulwark.ErrRejected) || !errors.Is(tc.err, ErrOpen) || !errors.As(tc.err, &oe) || oe.State != tc.state {
			t.Errorf("%v: %v does not match ErrRejected and ErrOpen as an *OpenError", tc.state, tc.err)
			continue
		}
		if tc.err.Error() != tc.text {
			t.Errorf("%v: Error() = %q, want %q", tc.state, tc.err, tc.text)
		}
		if d, ok := bulwark.RetryAfter(tc.err); !ok || d != 10*time.Second {
			t.Errorf("%v: bulwark.RetryAfter = %v, %v; want 10s", tc.state, d, ok)
		}
	}
}

// TestOpenRejectionAllocatesNothing: an open breaker rejecting a
// dependency's full traffic shares one *OpenError per clock reading, so
// rejecting allocates nothing (with the system clock, one error a
// millisecond).
func TestOpenRejectionAllocatesNothing(t *testing.T) {
	for _, forced := range []bool{false, true} {
		b, err := New(Config{ConsecutiveFailures: 1, OpenWait: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Do(bg, failOp)
		if forced {
			b.ForceOpen()
		}
		if allocs := testing.AllocsPerRun(10000, func() {
			if b.Do(bg, succeeds) == nil {
				t.Fatal("admitted")
			}
		}); allocs != 0 {
			t.Fatalf("forced=%v: a rejection allocates %v times", forced, allocs)
		}
	}
}

// TestOpenRetryAfterFollowsTheCoarseClock: with the system clock, an open
// breaker's RetryAfter is the rest of the wait read on the millisecond
// clock: never shorter than the true rest, and longer by at most the
// clock's lag.
func TestOpenRetryAfterFollowsTheCoarseClock(t *testing.T) {
	const wait = time.Hour
	b, err := New(Config{ConsecutiveFailures: 1, OpenWait: wait, OpenWaitJitter: NoJitter})
	if err != nil {
		t.Fatal(err)
	}
	tripped := time.Now()
	_ = b.Do(bg, failOp)
	for range 5 {
		var oe *OpenError
		if !errors.As(b.Do(bg, succeeds), &oe) {
			t.Fatal("not rejected")
		}
		rest := wait - time.Since(tripped)
		// The lag is a tick, more on a starved machine: allow a second.
		if got := oe.RetryAfter(); got < rest || got > rest+time.Second {
			t.Fatalf("RetryAfter %v, the true rest of the wait %v", got, rest)
		}
	}
}

// TestRejectedIsCountedExactly: rejections counted on striped counters
// from many goroutines add up.
func TestRejectedIsCountedExactly(t *testing.T) {
	b, _, _ := newTest(t, nil)
	trip(t, b)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				_ = b.Do(bg, succeeds)
			}
		}()
	}
	wg.Wait()
	if got := b.Metrics().Rejected; got != 8000 {
		t.Fatalf("Rejected = %d, want 8000", got)
	}
}

// TestZeroValuesPanicClearly: a Breaker or Keyed not made by New panics
// with a message that says so, before running anything.
func TestZeroValuesPanicClearly(t *testing.T) {
	var b Breaker
	var k Keyed[string]
	ran := false
	op := func(context.Context) error { ran = true; return nil }
	for name, call := range map[string]func(){
		"Breaker.Do":        func() { _ = b.Do(bg, op) },
		"Breaker.Allow":     func() { _, _ = b.Allow(bg) },
		"Breaker.State":     func() { _ = b.State() },
		"Breaker.Metrics":   func() { _ = b.Metrics() },
		"Breaker.ForceOpen": func() { b.ForceOpen() },
		"Breaker.Disable":   func() { b.Disable() },
		"Breaker.Reset":     func() { b.Reset() },
		"Keyed.Do":          func() { _ = k.Do(bg, "a", op) },
		"Keyed.Breaker":     func() { _ = k.Breaker("a") },
		"Keyed.Remove":      func() { _ = k.Remove("a") },
		"Keyed.Metrics":     func() { _ = k.Metrics() },
	} {
		want := "circuitbreaker: Breaker used without New"
		if strings.HasPrefix(name, "Keyed") {
			want = "circuitbreaker: Keyed used without NewKeyed"
		}
		func() {
			defer func() {
				if r := recover(); r != want {
					t.Errorf("%s on the zero value: recovered %v, want %q", name, r, want)
				}
			}()
			call()
		}()
	}
	if ran {
		t.Fatal("a zero value ran the op")
	}
}

// TestObserverGetsTheCallersContext: the events of a call carry its ctx.
func TestObserverGetsTheCallersContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(bg, key{}, "call")
	var got []string
	b, _, _ := newTest(t, func(c *Config) {
		c.Observer = bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			v, _ := ctx.Value(key{}).(string)
			got = append(got, e.Kind()+" "+v)
		})
	})
	for range 5 {
		_ = b.Do(ctx, failOp)
	}
	b.Reset()
	want := []string{"circuitbreaker.state_change call", "circuitbreaker.rejected call", "circuitbreaker.state_change "}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestEventsDescribeThemselves(t *testing.T) {
	sc := StateChange{Name: "inv", Key: "h1", From: StateClosed, To: StateOpen, Metrics: Metrics{Calls: 4, Failures: 3, FailureRate: 75}}
	r := Rejected{Name: "inv", Err: &OpenError{State: StateOpen, Wait: time.Second}}
	for _, tc := range []struct {
		e          bulwark.Event
		kind, logs string
	}{
		{sc, "circuitbreaker.state_change", "[key=h1 from=closed to=open calls=4 failures=3 slow_calls=0 failure_rate=75 slow_call_rate=0]"},
		{r, "circuitbreaker.rejected", "[state=open retry_after=1s dry_run=false]"},
	} {
		if tc.e.Kind() != tc.kind || tc.e.Component() != "inv" || tc.e.LogValue().String() != tc.logs {
			t.Errorf("%T: kind %q, component %q, log value %s; want %q, inv, %s", tc.e, tc.e.Kind(), tc.e.Component(), tc.e.LogValue(), tc.kind, tc.logs)
		}
	}
}

// FuzzNew feeds New arbitrary settings. Each is either refused with an
// error naming a Config field, or makes a breaker that behaves: no panic,
// rejections whose RetryAfter is positive and within the configured cap on
// the open wait, and an open breaker that lets a probe through once that
// wait has passed.
func FuzzNew(f *testing.F) {
	f.Add(uint8(0), 0, int64(0), 0, 0.0, 0, 0, int64(0), 0.0, int64(0), 0.0, int64(0), 0.0, 0, 0, int64(0), false, uint64(1))
	f.Add(uint8(1), 10, int64(0), 0, 50.0, 4, 3, int64(time.Second), 50.0, int64(10*time.Second), 2.0, int64(time.Minute), NoJitter, 3, 2, int64(5*time.Second), false, uint64(2))
	f.Add(uint8(2), 0, int64(time.Minute), 6, 25.0, 1, 0, int64(0), 0.0, int64(time.Second), FixedOpenWait, int64(0), 0.5, 1, 1, int64(NoMaxHalfOpenWait), true, uint64(3))
	f.Add(uint8(1), 1, int64(0), 0, 100.0, 1, 1, int64(1), 100.0, int64(1), 100.0, int64(24*time.Hour), 0.999, 10000, 10000, int64(24*time.Hour), false, uint64(4))
	f.Add(uint8(1), -1, int64(-1), -1, math.NaN(), -1, -1, int64(-1), math.Inf(1), int64(-1), math.Inf(-1), int64(math.MaxInt64), -0.5, -1, -1, int64(math.MinInt64), false, uint64(5))
	f.Add(uint8(2), 0, int64(math.MaxInt64), 1, 1e-300, math.MaxInt, math.MaxInt, int64(math.MaxInt64), 1e-300, int64(math.MaxInt64), 1.0000001, int64(24*time.Hour), 1e-300, 1, 1, int64(1), false, uint64(6))
	f.Fuzz(func(t *testing.T, kind uint8, calls int, dur int64, buckets int, rate float64, minCalls, consecutive int,
		slow int64, slowRate float64, openWait int64, mult float64, maxOpen int64, jitter float64,
		probes, successes int, maxHalfOpen int64, dryRun bool, seed uint64,
	) {
		fake := clocktest.New(epoch)
		cfg := Config{
			FailureRateThreshold: rate, MinimumCalls: minCalls, ConsecutiveFailures: consecutive,
			SlowCallDuration: time.Duration(slow), SlowCallRateThreshold: slowRate,
			OpenWait: time.Duration(openWait), OpenWaitMultiplier: mult, MaxOpenWait: time.Duration(maxOpen),
			OpenWaitJitter: jitter, HalfOpenCalls: probes, HalfOpenSuccesses: successes,
			MaxHalfOpenWait: time.Duration(maxHalfOpen), DryRun: dryRun, Clock: fake,
		}
		switch kind % 3 {
		case 1:
			cfg.Window = LastCalls(calls)
		case 2:
			cfg.Window = LastDuration(time.Duration(dur), buckets)
		}
		b, err := New(cfg)
		if err != nil {
			if b != nil || !strings.HasPrefix(err.Error(), "circuitbreaker: Config.") {
				t.Fatalf("New: breaker %v, error %q: want nil and an error naming a Config field", b, err)
			}
			return
		}
		limit := b.cfg.OpenWait
		if b.cfg.OpenWaitMultiplier > FixedOpenWait {
			limit = b.cfg.MaxOpenWait
		}
		r := rand.New(rand.NewPCG(seed, seed))
		for i := range 300 {
			d := time.Duration(r.Int64N(int64(3 * time.Second)))
			var err error
			switch r.IntN(4) {
			case 0:
				err = b.Do(bg, failOp)
			case 1:
				err = b.Do(bg, func(context.Context) error { fake.Advance(d); return nil })
			case 2:
				fake.Advance(d)
				continue
			default:
				err = b.Do(bg, succeeds)
			}
			var oe *OpenError
			if !errors.As(err, &oe) {
				continue
			}
			if dryRun {
				t.Fatalf("call %d: a dry run rejected: %v", i, err)
			}
			if w := oe.RetryAfter(); w <= 0 || w > limit {
				t.Fatalf("call %d: RetryAfter %v outside (0, %v]", i, w, limit)
			}
			if oe.State == StateOpen {
				fake.Advance(oe.RetryAfter())
				if s := b.State(); s == StateOpen {
					t.Fatalf("call %d: still open after RetryAfter %v", i, oe.RetryAfter())
				}
			}
		}
		m := b.Metrics()
		if m.Calls < 0 || m.Failures > m.Calls || m.SlowCalls > m.Calls {
			t.Fatalf("inconsistent metrics %+v", m)
		}
	})
}

// FuzzNewKeyed feeds NewKeyed arbitrary set settings: an error naming a
// KeyedConfig field, or a set that keeps within MaxKeys and the open share.
func FuzzNewKeyed(f *testing.F) {
	f.Add(0, 0.0, 0, uint64(1))
	f.Add(3, 50.0, 2, uint64(2))
	f.Add(1, 100.0, 1, uint64(3))
	f.Add(-1, math.NaN(), 0, uint64(4))
	f.Add(math.MaxInt, math.Inf(1), -1, uint64(5))
	f.Add(5, 1e-9, 1, uint64(6))
	f.Fuzz(func(t *testing.T, maxKeys int, percent float64, consecutive int, seed uint64) {
		cfg := KeyedConfig[int]{MaxKeys: maxKeys, MaxOpenPercent: percent}
		cfg.Breaker.ConsecutiveFailures = consecutive
		cfg.Breaker.Clock = clocktest.New(epoch)
		k, err := NewKeyed(cfg)
		if err != nil {
			if k != nil || !strings.HasPrefix(err.Error(), "circuitbreaker: KeyedConfig.") {
				t.Fatalf("NewKeyed: set %v, error %q: want nil and an error naming a KeyedConfig field", k, err)
			}
			return
		}
		r := rand.New(rand.NewPCG(seed, seed))
		for range 300 {
			_ = k.Do(bg, r.IntN(20), failOp)
			m := k.Metrics()
			if m.Keys > k.cfg.MaxKeys || m.Open > m.Keys {
				t.Fatalf("metrics %+v with MaxKeys %d", m, k.cfg.MaxKeys)
			}
			if percent > 0 && m.Open > max(1, int(percent*float64(m.Keys)/100)) {
				t.Fatalf("%d of %d keys open, beyond MaxOpenPercent %v", m.Open, m.Keys, percent)
			}
		}
	})
}

// TestObservedRejectionAllocatesNothing: with an Observer, each shared
// rejection carries its Rejected event boxed once, so reporting a
// rejection allocates nothing either, open or forced open, and every event
// still carries the error the call got.
func TestObservedRejectionAllocatesNothing(t *testing.T) {
	for _, forced := range []bool{false, true} {
		var seen atomic.Int64
		var last atomic.Pointer[OpenError]
		obs := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if r, ok := e.(Rejected); ok {
				seen.Add(1)
				last.Store(r.Err)
			}
		})
		b, err := New(Config{Name: "inventory", ConsecutiveFailures: 1, OpenWait: time.Hour, Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Do(bg, failOp)
		if forced {
			b.ForceOpen()
		}
		_ = b.Do(bg, succeeds) // the first rejection at this clock reading makes the shared error
		if allocs := testing.AllocsPerRun(10000, func() {
			err := b.Do(bg, succeeds)
			if err == nil {
				t.Fatal("admitted")
			}
			if got := last.Load(); got == nil || error(got) != err {
				t.Fatalf("the event's Err %v is not the error returned, %v", got, err)
			}
		}); allocs != 0 {
			t.Fatalf("forced=%v: an observed rejection allocates %v times", forced, allocs)
		}
		if seen.Load() < 10000 {
			t.Fatalf("forced=%v: %d Rejected events for 10001 rejections", forced, seen.Load())
		}
	}
}
