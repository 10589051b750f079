package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

var (
	errBoom  = errors.New("boom")
	epoch    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bg       = context.Background()
	failOp   = func(context.Context) error { return errBoom }
	succeeds = func(context.Context) error { return nil }
)

// testConfig is a small, exact configuration: a window of 10 calls, trips at
// 50% after 4 calls, waits 10s (no growth, no jitter), 3 probes of which 2
// must succeed, no limit on the probes' time, on a fake clock.
func testConfig(c *clocktest.Fake) Config {
	return Config{
		Window:               LastCalls(10),
		FailureRateThreshold: 50,
		MinimumCalls:         4,
		OpenWait:             10 * time.Second,
		OpenWaitMultiplier:   FixedOpenWait,
		OpenWaitJitter:       NoJitter,
		HalfOpenCalls:        3,
		HalfOpenSuccesses:    2,
		MaxHalfOpenWait:      NoMaxHalfOpenWait,
		Clock:                c,
	}
}

// hooks is an Observer that passes StateChange events to change and
// Rejected events to reject (either may be nil), and fails on any other.
type hooks struct {
	change func(StateChange)
	reject func(Rejected)
}

func (h hooks) Observe(_ context.Context, e bulwark.Event) {
	switch e := e.(type) {
	case StateChange:
		if h.change != nil {
			h.change(e)
		}
	case Rejected:
		if h.reject != nil {
			h.reject(e)
		}
	default:
		panic(fmt.Sprintf("unexpected event %T", e))
	}
}

// changes records state changes delivered to the observer.
type changes struct {
	mu  sync.Mutex
	all []StateChange
}

func (c *changes) hook(ch StateChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, ch)
}

func (c *changes) path() []State {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p []State
	for i, ch := range c.all {
		if i == 0 {
			p = append(p, ch.From)
		}
		p = append(p, ch.To)
	}
	return p
}

func newTest(t *testing.T, mutate func(*Config)) (*Breaker, *clocktest.Fake, *changes) {
	t.Helper()
	fake := clocktest.New(epoch)
	cfg := testConfig(fake)
	ch := &changes{}
	cfg.Observer = hooks{change: ch.hook}
	if mutate != nil {
		mutate(&cfg)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, fake, ch
}

// run calls Do n times with op and returns how many calls op saw.
func run(b *Breaker, n int, op func(context.Context) error) (ran int) {
	for range n {
		_ = b.Do(bg, func(ctx context.Context) error { ran++; return op(ctx) })
	}
	return ran
}

// trip opens a testConfig breaker: 4 failures.
func trip(t *testing.T, b *Breaker) {
	t.Helper()
	run(b, 4, failOp)
	if s := b.State(); s != StateOpen {
		t.Fatalf("after 4 failures: state %v, want open", s)
	}
}

func wantState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}
