package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
)

var _ bulwark.Policy = (*Breaker)(nil)

func TestTripsOnFailureRate(t *testing.T) {
	tests := []struct {
		name    string
		window  Window
		minimum int
		// outcomes in order: 's' success, 'f' failure
		outcomes string
		want     State
	}{
		{"below minimum calls", LastCalls(10), 4, "fff", StateClosed},
		{"rate reached at minimum", LastCalls(10), 4, "sfff", StateOpen},
		{"rate exactly at threshold", LastCalls(10), 4, "ssff", StateOpen},
		{"rate just below threshold", LastCalls(10), 4, "sssff" + "s", StateClosed},
		{"success completing minimum trips", LastCalls(10), 4, "fffs", StateOpen},
		{"window holds only the last calls", LastCalls(4), 4, "ssssssss" + "ff", StateOpen},
		{"failures slide out", LastCalls(4), 4, "fsss" + "s" + "f", StateClosed},
		{"time window", LastDuration(10*time.Second, 10), 4, "sfsf", StateOpen},
		{"time window below rate", LastDuration(10*time.Second, 10), 4, "sssf", StateClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, _ := newTest(t, func(c *Config) { c.Window, c.MinimumCalls = tt.window, tt.minimum })
			for _, o := range tt.outcomes {
				op := succeeds
				if o == 'f' {
					op = failOp
				}
				_ = b.Do(bg, op)
			}
			wantState(t, b, tt.want)
		})
	}
}

func TestQuietWindowStaysExact(t *testing.T) {
	// A full window of successes skips writing further successes; the rate
	// seen by the next failures must still be exact.
	b, _, _ := newTest(t, func(c *Config) { c.MinimumCalls = 10 })
	run(b, 25, succeeds)
	if m := b.Metrics(); m.Calls != 10 || m.Failures != 0 {
		t.Fatalf("quiet window metrics %+v, want 10 calls 0 failures", m)
	}
	run(b, 4, failOp)
	m := b.Metrics()
	if m.State != StateClosed || m.Calls != 10 || m.Failures != 4 || m.FailureRate != 40 {
		t.Fatalf("after 4 failures: %+v, want closed with 4/10 = 40%%", m)
	}
	run(b, 1, failOp)
	wantState(t, b, StateOpen)
}

func TestConsecutiveFailures(t *testing.T) {
	b, _, _ := newTest(t, func(c *Config) {
		c.Window, c.MinimumCalls, c.FailureRateThreshold = LastCalls(100), 100, 100
		c.ConsecutiveFailures = 3
	})
	run(b, 2, failOp)
	run(b, 1, succeeds) // breaks the streak
	run(b, 2, failOp)
	wantState(t, b, StateClosed)
	if got := b.Metrics().ConsecutiveFailures; got != 2 {
		t.Fatalf("ConsecutiveFailures = %d, want 2", got)
	}
	run(b, 1, failOp)
	wantState(t, b, StateOpen)
}

func TestConsecutiveFailuresSurviveAQuietTimeWindow(t *testing.T) {
	// Failures that aged out of a time window still form a streak until a
	// success breaks it; the lock-free success path must break it too.
	b, fake, _ := newTest(t, func(c *Config) {
		c.Window, c.MinimumCalls = LastDuration(time.Second, 10), 100
		c.ConsecutiveFailures = 3
	})
	run(b, 2, failOp)
	fake.Advance(5 * time.Second)
	run(b, 1, succeeds)
	run(b, 2, failOp)
	wantState(t, b, StateClosed)
}

func TestSlowCalls(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) {
		c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 50
	})
	slow := func(context.Context) error { fake.Advance(time.Second); return nil }
	fast := func(context.Context) error { fake.Advance(999 * time.Millisecond); return nil }
	run(b, 2, fast)
	run(b, 1, slow)
	m := b.Metrics()
	if m.SlowCalls != 1 || m.Failures != 0 || m.State != StateClosed {
		t.Fatalf("metrics %+v, want 1 slow call, no failures, closed", m)
	}
	run(b, 1, slow) // 2 of 4 slow: 50%
	wantState(t, b, StateOpen)
}

func TestSlowFailureCountsForBothRates(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) {
		c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 100
		c.MinimumCalls = 10
	})
	_ = b.Do(bg, func(context.Context) error { fake.Advance(2 * time.Second); return errBoom })
	m := b.Metrics()
	if m.Calls != 1 || m.Failures != 1 || m.SlowCalls != 1 {
		t.Fatalf("metrics %+v, want 1 call that failed and was slow", m)
	}
}

func TestOpenRejectsWithRetryAfter(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) { c.Name = "inventory" })
	trip(t, b)
	fake.Advance(4 * time.Second)
	ran := false
	err := b.Do(bg, func(context.Context) error { ran = true; return nil })
	if ran {
		t.Fatal("open breaker ran the call")
	}
	if !errors.Is(err, ErrOpen) {
		t.Fatalf("err = %v, want ErrOpen", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.State != StateOpen || oe.Name != "inventory" {
		t.Fatalf("err = %#v, want *OpenError open, named inventory", err)
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() != 6*time.Second {
		t.Fatalf("RetryAfter = %v, want 6s", ra)
	}
	if want := `circuitbreaker: "inventory" is open; retry after 6s`; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
	if got := b.Metrics().Rejected; got != 1 {
		t.Fatalf("Rejected = %d, want 1", got)
	}
	fake.Advance(6*time.Second - 1)
	if err := b.Do(bg, succeeds); !errors.Is(err, ErrOpen) {
		t.Fatalf("1ns before the wait ends: err = %v, want ErrOpen", err)
	}
	fake.Advance(1)
	wantState(t, b, StateHalfOpen)
}

func TestOpenWaitGrowsAndResets(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) {
		c.OpenWaitMultiplier, c.MaxOpenWait = 2, 35*time.Second
		c.HalfOpenSuccesses = 1
	})
	retryAfter := func() time.Duration {
		var oe *OpenError
		if !errors.As(b.Do(bg, succeeds), &oe) || oe.State != StateOpen {
			t.Fatalf("want an open rejection")
		}
		return oe.RetryAfter()
	}
	trip(t, b)
	var waits []time.Duration
	for range 4 {
		w := retryAfter()
		waits = append(waits, w)
		fake.Advance(w)
		// 3 probes, 1 success needed: reopen takes 3 failures.
		run(b, 3, failOp)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second}
	if !slices.Equal(waits, want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	if got := b.Metrics().Trips; got != 5 {
		t.Fatalf("Trips = %d, want 5", got)
	}
	fake.Advance(retryAfter())
	run(b, 1, succeeds) // closes
	wantState(t, b, StateClosed)
	trip(t, b)
	if w := retryAfter(); w != 10*time.Second {
		t.Fatalf("after closing, wait %v, want OpenWait 10s again", w)
	}
}

func TestOpenWaitJitter(t *testing.T) {
	const wait = 10 * time.Second
	seen := map[time.Duration]bool{}
	for range 50 {
		b, _, _ := newTest(t, func(c *Config) { c.OpenWaitJitter = 0.5 })
		trip(t, b)
		var oe *OpenError
		if !errors.As(b.Do(bg, succeeds), &oe) {
			t.Fatal("want a rejection")
		}
		if w := oe.RetryAfter(); w < wait/2 || w > wait {
			t.Fatalf("jittered wait %v outside [%v, %v]", w, wait/2, wait)
		}
		seen[oe.RetryAfter()] = true
	}
	if len(seen) < 10 {
		t.Fatalf("50 jittered waits took only %d values: not spread", len(seen))
	}
}

func TestHalfOpenAdmitsExactlyThePermits(t *testing.T) {
	b, fake, _ := newTest(t, nil)
	trip(t, b)
	fake.Advance(10 * time.Second)
	var permits []Permit
	for range 3 {
		p, err := b.Allow(bg)
		if err != nil {
			t.Fatalf("probe %d rejected: %v", len(permits)+1, err)
		}
		permits = append(permits, p)
	}
	_, err := b.Allow(bg)
	var oe *OpenError
	if !errors.As(err, &oe) || oe.State != StateHalfOpen || oe.RetryAfter() != 10*time.Second {
		t.Fatalf("4th probe: err = %v, want a half-open rejection with RetryAfter = OpenWait", err)
	}
	if m := b.Metrics(); m.ProbesAdmitted != 3 {
		t.Fatalf("ProbesAdmitted = %d, want 3", m.ProbesAdmitted)
	}
	permits[0].Done(nil)
	wantState(t, b, StateHalfOpen)
	permits[1].Done(nil)
	wantState(t, b, StateClosed)
	permits[2].Done(errBoom) // a probe of a finished half-open state
	if m := b.Metrics(); m.Calls != 0 || m.Failures != 0 {
		t.Fatalf("late probe was recorded in the new window: %+v", m)
	}
}

func TestHalfOpenVerdict(t *testing.T) {
	tests := []struct {
		probes, successes int
		outcomes          string
		want              []State // state after each outcome
	}{
		{3, 2, "ss", []State{StateHalfOpen, StateClosed}},
		{3, 2, "fss", []State{StateHalfOpen, StateHalfOpen, StateClosed}},
		{3, 2, "sff", []State{StateHalfOpen, StateHalfOpen, StateOpen}},
		{3, 2, "ff", []State{StateHalfOpen, StateOpen}},
		{3, 3, "f", []State{StateOpen}},
		{5, 1, "ffffs", []State{StateHalfOpen, StateHalfOpen, StateHalfOpen, StateHalfOpen, StateClosed}},
		{5, 1, "fffff", []State{StateHalfOpen, StateHalfOpen, StateHalfOpen, StateHalfOpen, StateOpen}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-of-%d/%s", tt.successes, tt.probes, tt.outcomes), func(t *testing.T) {
			b, fake, _ := newTest(t, func(c *Config) { c.HalfOpenCalls, c.HalfOpenSuccesses = tt.probes, tt.successes })
			trip(t, b)
			fake.Advance(10 * time.Second)
			var got []State
			for _, o := range tt.outcomes {
				op := succeeds
				if o == 'f' {
					op = failOp
				}
				if err := b.Do(bg, op); errors.Is(err, ErrOpen) {
					t.Fatalf("probe rejected: %v", err)
				}
				got = append(got, b.State())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("states %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlowProbeFails(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) {
		c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 100
		c.HalfOpenCalls, c.HalfOpenSuccesses = 1, 1
	})
	trip(t, b)
	fake.Advance(10 * time.Second)
	_ = b.Do(bg, func(context.Context) error { fake.Advance(time.Second); return nil })
	wantState(t, b, StateOpen)
}

func TestProbeWithoutVerdictHandsBackItsPermit(t *testing.T) {
	errInput := errors.New("bad input")
	tests := []struct {
		name string
		call func(b *Breaker)
	}{
		{"ignored error", func(b *Breaker) { _ = b.Do(bg, func(context.Context) error { return errInput }) }},
		{"caller cancelled", func(b *Breaker) {
			ctx, cancel := context.WithCancel(bg)
			_ = b.Do(ctx, func(ctx context.Context) error { cancel(); return ctx.Err() })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, fake, _ := newTest(t, func(c *Config) {
				c.HalfOpenCalls, c.HalfOpenSuccesses = 1, 1
				c.IsIgnored = func(err error) bool { return errors.Is(err, errInput) }
			})
			trip(t, b)
			fake.Advance(10 * time.Second)
			for range 5 {
				tt.call(b)
			}
			wantState(t, b, StateHalfOpen)
			if err := b.Do(bg, succeeds); err != nil {
				t.Fatalf("probe after 5 verdict-less probes: %v", err)
			}
			wantState(t, b, StateClosed)
		})
	}
}

func TestMaxHalfOpenWait(t *testing.T) {
	b, fake, ch := newTest(t, func(c *Config) { c.MaxHalfOpenWait = 5 * time.Second })
	trip(t, b)
	fake.Advance(10 * time.Second)
	var hung []Permit
	for range 3 {
		p, err := b.Allow(bg)
		if err != nil {
			t.Fatal(err)
		}
		hung = append(hung, p)
	}
	fake.Advance(5*time.Second - 1)
	wantState(t, b, StateHalfOpen)
	fake.Advance(1)
	wantState(t, b, StateOpen)
	for _, p := range hung { // too late: they count for nothing
		p.Done(nil)
	}
	wantState(t, b, StateOpen)
	if m := b.Metrics(); m.Trips != 2 {
		t.Fatalf("Trips = %d, want 2 (the half-open timeout counts)", m.Trips)
	}
	want := []State{StateClosed, StateOpen, StateHalfOpen, StateOpen}
	if got := ch.path(); !slices.Equal(got, want) {
		t.Fatalf("path %v, want %v", got, want)
	}
}

// TestClosedResultIsNotAProbe reproduces failsafe-go 0.9.8's permit
// inflation: a call admitted while closed that finishes while half-open
// hands back a "permit" it never took, and a 4th probe gets in where 3 are
// allowed. Here results are tagged with their generation, so exactly 3 do.
func TestClosedResultIsNotAProbe(t *testing.T) {
	for _, outcome := range []error{nil, errBoom, context.Canceled} {
		t.Run(fmt.Sprint(outcome), func(t *testing.T) {
			b, fake, _ := newTest(t, func(c *Config) { c.HalfOpenSuccesses = 3 })
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			slow, err := b.Allow(ctx) // admitted while closed
			if err != nil {
				t.Fatal(err)
			}
			trip(t, b)
			fake.Advance(10 * time.Second)
			admitted := 0
			for range 3 {
				if _, err := b.Allow(bg); err == nil {
					admitted++
				}
			}
			if outcome == context.Canceled {
				cancel()
			}
			slow.Done(outcome)
			for range 3 {
				if _, err := b.Allow(bg); err == nil {
					admitted++
				}
			}
			if admitted != 3 {
				t.Fatalf("%d probes admitted, want exactly HalfOpenCalls = 3", admitted)
			}
			if m := b.Metrics(); m.ProbeSuccesses+m.ProbeFailures != 0 {
				t.Fatalf("the closed-state call counted as a probe: %+v", m)
			}
		})
	}
}

func TestStaleFailureDoesNotCountInTheNextWindow(t *testing.T) {
	b, fake, _ := newTest(t, nil)
	stale, _ := b.Allow(bg)
	trip(t, b)
	fake.Advance(10 * time.Second)
	run(b, 2, succeeds) // closes
	wantState(t, b, StateClosed)
	stale.Done(errBoom)
	if m := b.Metrics(); m.Calls != 0 || m.ConsecutiveFailures != 0 {
		t.Fatalf("stale failure recorded: %+v", m)
	}
}

func TestPanicCountsAsFailureAndPropagates(t *testing.T) {
	doPanics := func(b *Breaker) (recovered any) {
		defer func() { recovered = recover() }()
		_ = b.Do(bg, func(context.Context) error { panic("kaboom") })
		return nil
	}
	t.Run("closed", func(t *testing.T) {
		b, _, _ := newTest(t, nil)
		if r := doPanics(b); r != "kaboom" {
			t.Fatalf("recovered %v, want the op's panic", r)
		}
		if m := b.Metrics(); m.Failures != 1 {
			t.Fatalf("Failures = %d, want 1", m.Failures)
		}
	})
	t.Run("half-open probe does not wedge", func(t *testing.T) {
		b, fake, _ := newTest(t, func(c *Config) { c.HalfOpenCalls, c.HalfOpenSuccesses = 1, 1 })
		trip(t, b)
		fake.Advance(10 * time.Second)
		if r := doPanics(b); r != "kaboom" {
			t.Fatalf("recovered %v, want the op's panic", r)
		}
		wantState(t, b, StateOpen) // the panic was the probe's verdict
		fake.Advance(10 * time.Second)
		if err := b.Do(bg, succeeds); err != nil {
			t.Fatalf("next probe after a panicking one: %v", err)
		}
		wantState(t, b, StateClosed)
	})
}

func TestClassification(t *testing.T) {
	errNotFound := errors.New("not found")
	errInput := errors.New("bad input")
	expired, cancel := context.WithDeadline(bg, epoch)
	defer cancel()
	cancelled, cancel2 := context.WithCancel(bg)
	cancel2()
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		calls    int
		failures int
	}{
		{"success", bg, nil, 1, 0},
		{"error", bg, errBoom, 1, 1},
		{"IsFailure false counts as success", bg, errNotFound, 1, 0},
		{"IsIgnored", bg, fmt.Errorf("wrapped: %w", errInput), 0, 0},
		{"caller cancelled", cancelled, context.Canceled, 0, 0},
		{"cancelled, caller's ctx alive", bg, context.Canceled, 1, 1},
		{"caller deadline is a failure", expired, context.DeadlineExceeded, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, _ := newTest(t, func(c *Config) {
				c.IsFailure = func(err error) bool { return !errors.Is(err, errNotFound) }
				c.IsIgnored = func(err error) bool { return errors.Is(err, errInput) }
			})
			got := b.Do(tt.ctx, func(context.Context) error { return tt.err })
			if got != tt.err {
				t.Fatalf("Do returned %v, want op's error %v unchanged", got, tt.err)
			}
			if m := b.Metrics(); m.Calls != tt.calls || m.Failures != tt.failures {
				t.Fatalf("calls/failures %d/%d, want %d/%d", m.Calls, m.Failures, tt.calls, tt.failures)
			}
		})
	}
}

func TestDryRunNeverRejectsAndDoesWhatItWould(t *testing.T) {
	real, realClock, realChanges := newTest(t, nil)
	var wouldReject []*OpenError
	dry, dryClock, dryChanges := newTest(t, func(c *Config) {
		c.DryRun = true
		c.Observer = bulwark.Observers(c.Observer, hooks{reject: func(e Rejected) {
			if !e.DryRun {
				t.Errorf("dry-run rejection %+v without DryRun", e)
			}
			wouldReject = append(wouldReject, e.Err)
		}})
	})
	// The same script on both: trip, 3 calls while open, wait, 2 probes that
	// succeed.
	script := []struct {
		advance time.Duration
		op      func(context.Context) error
	}{
		{0, failOp}, {0, failOp}, {0, failOp}, {0, failOp},
		{time.Second, succeeds}, {0, failOp}, {0, succeeds},
		{10 * time.Second, succeeds}, {0, succeeds}, {0, failOp},
	}
	realRejected, dryRan := 0, 0
	for _, step := range script {
		realClock.Advance(step.advance)
		dryClock.Advance(step.advance)
		if errors.Is(real.Do(bg, step.op), ErrOpen) {
			realRejected++
		}
		if err := dry.Do(bg, func(ctx context.Context) error { dryRan++; return step.op(ctx) }); errors.Is(err, ErrOpen) {
			t.Fatalf("dry run rejected a call: %v", err)
		}
	}
	if dryRan != len(script) {
		t.Fatalf("dry run ran %d of %d calls", dryRan, len(script))
	}
	if realRejected != 3 || len(wouldReject) != 3 || dry.Metrics().Rejected != 3 {
		t.Fatalf("real rejected %d, dry run reported %d (Metrics.Rejected %d); want 3 each",
			realRejected, len(wouldReject), dry.Metrics().Rejected)
	}
	if r, d := realChanges.path(), dryChanges.path(); !slices.Equal(r, d) {
		t.Fatalf("dry-run path %v differs from the real one %v", d, r)
	}
	if r, d := real.Metrics(), dry.Metrics(); r != d {
		t.Fatalf("dry-run metrics %+v differ from the real ones %+v", d, r)
	}
}

func TestOperatorControls(t *testing.T) {
	b, fake, ch := newTest(t, nil)
	run(b, 3, failOp)

	b.ForceOpen()
	wantState(t, b, StateForcedOpen)
	var oe *OpenError
	if err := b.Do(bg, succeeds); !errors.As(err, &oe) || oe.State != StateForcedOpen || oe.RetryAfter() != 10*time.Second {
		t.Fatalf("forced open: err = %v, want a forced-open rejection, RetryAfter = OpenWait", err)
	}
	fake.Advance(time.Hour)
	wantState(t, b, StateForcedOpen) // no wait ends it

	b.Disable()
	if ran := run(b, 20, failOp); ran != 20 {
		t.Fatalf("disabled breaker ran %d of 20 calls", ran)
	}
	m := b.Metrics()
	if m.State != StateDisabled || m.Calls != 10 || m.Failures != 10 {
		t.Fatalf("disabled metrics %+v, want a live window of 10 failures", m)
	}

	b.Reset()
	m = b.Metrics()
	if m.State != StateClosed || m.Calls != 0 || m.ConsecutiveFailures != 0 {
		t.Fatalf("after Reset: %+v, want closed and empty", m)
	}
	want := []State{StateClosed, StateForcedOpen, StateDisabled, StateClosed}
	if got := ch.path(); !slices.Equal(got, want) {
		t.Fatalf("path %v, want %v", got, want)
	}
}

func TestResetDropsCallsInFlight(t *testing.T) {
	b, _, _ := newTest(t, nil)
	p, _ := b.Allow(bg)
	b.Reset()
	p.Done(errBoom)
	if m := b.Metrics(); m.Calls != 0 {
		t.Fatalf("call admitted before Reset was recorded after it: %+v", m)
	}
}

func TestMetricsSnapshot(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) {
		c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 100
		c.MinimumCalls = 10
	})
	run(b, 2, succeeds)
	run(b, 1, failOp)
	_ = b.Do(bg, func(context.Context) error { fake.Advance(time.Second); return nil })
	run(b, 1, failOp)
	want := Metrics{
		State: StateClosed, Calls: 5, Failures: 2, SlowCalls: 1,
		FailureRate: 40, SlowCallRate: 20, ConsecutiveFailures: 1,
	}
	if got := b.Metrics(); got != want {
		t.Fatalf("Metrics() = %+v\nwant        %+v", got, want)
	}
}

func TestMetricsFrozenWhileOpen(t *testing.T) {
	b, fake, ch := newTest(t, func(c *Config) { c.Window = LastDuration(time.Second, 4) })
	run(b, 1, succeeds)
	run(b, 3, failOp)
	wantState(t, b, StateOpen)
	fake.Advance(5 * time.Second) // longer than the window
	m := b.Metrics()
	if m.Calls != 4 || m.Failures != 3 {
		t.Fatalf("open metrics %+v, want the 4 calls that tripped it", m)
	}
	if trip := ch.all[0]; trip.To != StateOpen || trip.Metrics.Failures != 3 || trip.Metrics.Calls != 4 {
		t.Fatalf("trip event %+v, want the window that tripped it", trip)
	}
}

func TestTimeWindowForgetsOldBuckets(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) { c.Window, c.MinimumCalls = LastDuration(4*time.Second, 4), 1 })
	run(b, 10, succeeds)
	fake.Advance(time.Second)
	run(b, 5, succeeds)
	if got := b.Metrics().Calls; got != 15 {
		t.Fatalf("Calls = %d, want 15", got)
	}
	fake.Advance(3 * time.Second) // the first bucket leaves the window
	if got := b.Metrics().Calls; got != 5 {
		t.Fatalf("after 4s: Calls = %d, want 5", got)
	}
	fake.Advance(time.Second)
	if got := b.Metrics().Calls; got != 0 {
		t.Fatalf("after 5s: Calls = %d, want 0", got)
	}
	// A single failure in an empty window is 100%.
	run(b, 1, failOp)
	wantState(t, b, StateOpen)
}

func TestAllowAndDone(t *testing.T) {
	b, fake, _ := newTest(t, func(c *Config) {
		c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 100
	})
	p, err := b.Allow(bg)
	if err != nil {
		t.Fatal(err)
	}
	fake.Advance(2 * time.Second)
	p.Done(nil)
	if m := b.Metrics(); m.Calls != 1 || m.SlowCalls != 1 {
		t.Fatalf("metrics %+v, want one slow call timed from Allow to Done", m)
	}
	Permit{}.Done(errBoom) // the zero Permit is inert
	trip(t, b)
	if _, err := b.Allow(bg); !errors.Is(err, ErrOpen) {
		t.Fatalf("Allow on an open breaker: %v, want ErrOpen", err)
	}
}

func TestDoAllocatesNothingOnTheClosedSuccessPath(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"count window", nil},
		{"time window", func(c *Config) { c.Window = LastDuration(time.Minute, 10) }},
		{"slow calls", func(c *Config) { c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 50 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			b, err := New(cfg) // the real (coarse) clock, as in production
			if err != nil {
				t.Fatal(err)
			}
			run(b, 200, succeeds)
			if allocs := testing.AllocsPerRun(1000, func() { _ = b.Do(bg, succeeds) }); allocs != 0 {
				t.Fatalf("Do allocates %v times per call, want 0", allocs)
			}
		})
	}
}

func TestOpenErrorMessage(t *testing.T) {
	err := &OpenError{State: StateHalfOpen, Wait: 1500 * time.Millisecond}
	if got := err.Error(); !strings.Contains(got, "half-open") || !strings.Contains(got, "1.5s") {
		t.Fatalf("Error() = %q, want the state and the wait", got)
	}
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{
		StateClosed: "closed", StateHalfOpen: "half-open", StateOpen: "open",
		StateForcedOpen: "forced-open", StateDisabled: "disabled", State(9): "State(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", s, got, want)
		}
	}
}
