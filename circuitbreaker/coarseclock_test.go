package circuitbreaker

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

// These tests use the real clock: the coarse clock is a real-time component.

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCoarseClockFollowsTheSystemClock(t *testing.T) {
	first := coarseNow()
	waitFor(t, "the coarse clock to move", func() bool { return coarseNow() > first })
	for range 1000 {
		c := coarseNow()
		if precise := int64(time.Since(coarse.origin)); c > precise {
			t.Fatalf("coarse clock %v is ahead of the system clock %v", c, precise)
		}
	}
	prev := coarseNow()
	for range 100000 {
		c := coarseNow()
		if c < prev {
			t.Fatalf("coarse clock went back from %v to %v", prev, c)
		}
		prev = c
	}
}

func TestCoarseClockStopsWhenIdle(t *testing.T) {
	waitFor(t, "an idle coarse clock", func() bool { return !coarseIsRunning() })
	leakcheck.Check(t) // its goroutine must be gone when the test ends
	cfg := DefaultConfig()
	cfg.Window = LastDuration(time.Second, 10)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(b, 100, succeeds)
	if !coarseIsRunning() {
		t.Fatal("a time-window breaker in use did not start the coarse clock")
	}
	waitFor(t, "the coarse clock to stop", func() bool { return !coarseIsRunning() })
	run(b, 1, succeeds) // restarts it
	if !coarseIsRunning() {
		t.Fatal("the coarse clock did not restart")
	}
}

func TestCountWindowNeedsNoClock(t *testing.T) {
	waitFor(t, "an idle coarse clock", func() bool { return !coarseIsRunning() })
	b, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	run(b, 1000, succeeds)
	run(b, 5, failOp)
	if coarseIsRunning() {
		t.Fatal("a closed count-window breaker without slow-call detection started the coarse clock")
	}
}

func TestSlowCallsOnTheSystemClock(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SlowCallDuration, cfg.SlowCallRateThreshold = 20*time.Millisecond, 100
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(b, 10, succeeds)
	run(b, 2, func(context.Context) error { time.Sleep(200 * time.Millisecond); return nil })
	if m := b.Metrics(); m.Calls != 12 || m.SlowCalls != 2 {
		t.Fatalf("metrics %+v, want 2 slow calls of 12", m)
	}
}
