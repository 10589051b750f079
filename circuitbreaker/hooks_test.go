package circuitbreaker

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// finishes fails the test if f does not return within a minute: the
// symptom of a hook deadlocked on the breaker's lock (gobreaker#37).
func finishes(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return: a hook deadlocked on the breaker", what)
	}
}

func TestHooksMayUseTheBreaker(t *testing.T) {
	var b *Breaker
	var seen []string
	fake := clocktest.New(epoch)
	cfg := testConfig(fake)
	onChange := func(c StateChange) {
		// Everything a hook might reasonably do, on the breaker that called it.
		m := b.Metrics()
		seen = append(seen, c.From.String()+">"+c.To.String()+" now "+b.State().String()+"/"+m.State.String())
		if c.To == StateOpen && len(seen) == 1 {
			_ = b.Do(bg, succeeds) // rejected: must not deadlock either
		}
	}
	onReject := func(Rejected) {
		seen = append(seen, "reject in "+b.State().String()+"/"+b.Metrics().State.String())
	}
	cfg.Observer = hooks{change: onChange, reject: onReject}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	finishes(t, "tripping with hooks that call back", func() {
		run(b, 4, failOp)
		fake.Advance(10 * time.Second)
		run(b, 2, succeeds)
		b.ForceOpen()
		b.Reset()
	})
	want := []string{
		"closed>open now open/open",
		"reject in open/open",
		"open>half-open now half-open/half-open",
		"half-open>closed now closed/closed",
		"closed>forced-open now forced-open/forced-open",
		"forced-open>closed now closed/closed",
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("hooks saw\n%q\nwant\n%q", seen, want)
	}
}

func TestHookThatChangesStateDeliversInOrder(t *testing.T) {
	// A hook that forces the breaker open from inside OnStateChange queues
	// its change after the one being delivered instead of nesting.
	var b *Breaker
	var order []State
	depth, maxDepth := 0, 0
	fake := clocktest.New(epoch)
	cfg := testConfig(fake)
	cfg.Observer = hooks{change: func(c StateChange) {
		depth++
		maxDepth = max(maxDepth, depth)
		order = append(order, c.To)
		if c.To == StateOpen {
			b.ForceOpen()
			order = append(order, StateForcedOpen+100) // marks "ForceOpen returned"
		}
		depth--
	}}
	b, _ = New(cfg)
	finishes(t, "a hook that changes state", func() { run(b, 4, failOp) })
	want := []State{StateOpen, StateForcedOpen + 100, StateForcedOpen}
	if !slices.Equal(order, want) || maxDepth != 1 {
		t.Fatalf("order %v (max nesting %d), want %v without nesting", order, maxDepth, want)
	}
}

func TestPanickingHookDoesNotStopDelivery(t *testing.T) {
	fake := clocktest.New(epoch)
	cfg := testConfig(fake)
	var got []State
	cfg.Observer = hooks{change: func(c StateChange) {
		got = append(got, c.To)
		if c.To == StateOpen {
			panic("hook bug")
		}
	}}
	b, _ := New(cfg)
	func() {
		defer func() {
			if r := recover(); r != "hook bug" {
				t.Fatalf("recovered %v, want the hook's panic", r)
			}
		}()
		run(b, 4, failOp)
	}()
	b.ForceOpen()
	if want := []State{StateOpen, StateForcedOpen}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v: a panicking hook must not stop later deliveries", got, want)
	}
}

func TestConcurrentHooksAreSerialAndOrdered(t *testing.T) {
	// Many goroutines drive the breaker through many cycles; the hook must
	// never run twice at once, and each change must start where the
	// previous one ended.
	fake := clocktest.New(epoch)
	cfg := testConfig(fake)
	var (
		mu      sync.Mutex
		inHook  bool
		overlap bool
		changes []StateChange
		b       *Breaker
	)
	cfg.Observer = hooks{change: func(c StateChange) {
		mu.Lock()
		if inHook {
			overlap = true
		}
		inHook = true
		changes = append(changes, c)
		mu.Unlock()
		_ = b.Metrics()
		mu.Lock()
		inHook = false
		mu.Unlock()
	}}
	b, _ = New(cfg)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				op := succeeds
				if (i+g)%5 < 3 {
					op = failOp
				}
				_ = b.Do(bg, op)
				if i%50 == 0 {
					fake.Advance(5 * time.Second)
				}
			}
		}()
	}
	finishes(t, "concurrent calls with a hook", wg.Wait)
	if overlap {
		t.Fatal("the observer ran concurrently with itself")
	}
	for i := 1; i < len(changes); i++ {
		if changes[i].From != changes[i-1].To {
			t.Fatalf("change %d goes %v>%v after one that ended in %v", i, changes[i].From, changes[i].To, changes[i-1].To)
		}
	}
	if len(changes) < 3 {
		t.Fatalf("only %d changes: the test did not exercise the state machine", len(changes))
	}
	t.Logf("%d state changes delivered in order", len(changes))
}

func TestRejectedEventCarriesTheReturnedError(t *testing.T) {
	var hooked *OpenError
	b, _, _ := newTest(t, func(c *Config) {
		c.Name = "inventory"
		c.Observer = hooks{reject: func(e Rejected) {
			if e.Name != "inventory" || e.Key != nil || e.DryRun {
				t.Errorf("Rejected event %+v, want it named inventory, without key or DryRun", e)
			}
			hooked = e.Err
		}}
	})
	trip(t, b)
	err := b.Do(bg, succeeds)
	var oe *OpenError
	if !errors.As(err, &oe) || hooked != oe {
		t.Fatalf("the Rejected event carried %v, Do returned %v: want the same error", hooked, err)
	}
}

func TestNoThunderingHerdAtHalfOpen(t *testing.T) {
	// Hundreds of callers arrive together when the wait ends: exactly
	// HalfOpenCalls of them run.
	b, fake, _ := newTest(t, func(c *Config) { c.HalfOpenCalls, c.HalfOpenSuccesses = 5, 5 })
	trip(t, b)
	fake.Advance(10 * time.Second)
	var (
		wg      sync.WaitGroup
		decided sync.WaitGroup // each caller is admitted or rejected
		mu      sync.Mutex
		ran     int
		release = make(chan struct{})
		start   = make(chan struct{})
	)
	for range 200 {
		wg.Add(1)
		decided.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := b.Do(bg, func(context.Context) error {
				mu.Lock()
				ran++
				mu.Unlock()
				decided.Done()
				<-release
				return nil
			})
			if err != nil {
				decided.Done()
			}
		}()
	}
	close(start)
	decided.Wait()
	close(release)
	wg.Wait()
	if ran != 5 {
		t.Fatalf("%d callers ran at the half-open transition, want exactly 5", ran)
	}
	wantState(t, b, StateClosed)
}

func TestConcurrentStress(t *testing.T) {
	// Every entry point at once on a time-window breaker with slow-call
	// detection (the lock-free paths), for the race detector, then checks
	// that the breaker still works and reports a sane window.
	fake := clocktest.New(epoch)
	cfg := testConfig(fake)
	cfg.Window = LastDuration(4*time.Second, 4)
	cfg.SlowCallDuration, cfg.SlowCallRateThreshold = time.Second, 80
	cfg.MaxHalfOpenWait = 3 * time.Second
	cfg.Observer = hooks{change: func(StateChange) {}}
	b, _ := New(cfg)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				switch {
				case g == 0 && i%500 == 250:
					b.ForceOpen()
				case g == 0 && i%500 == 499:
					b.Reset()
				case g == 1 && i%40 == 0:
					fake.Advance(700 * time.Millisecond)
				case g == 2:
					if p, err := b.Allow(bg); err == nil {
						if i%4 == 0 {
							p.Done(errBoom)
						} else {
							p.Done(nil)
						}
					}
				case g == 3 && i%10 == 0:
					m := b.Metrics()
					if m.Failures > m.Calls || m.SlowCalls > m.Calls || m.Calls < 0 {
						t.Errorf("inconsistent metrics %+v", m)
						return
					}
				default:
					op := succeeds
					if (i+g)%3 == 0 {
						op = failOp
					}
					_ = b.Do(bg, op)
				}
			}
		}()
	}
	finishes(t, "the stress run", wg.Wait)
	b.Reset()
	run(b, 4, succeeds)
	if m := b.Metrics(); m.State != StateClosed || m.Calls != 4 {
		t.Fatalf("after the stress run and Reset: %+v, want closed with 4 calls", m)
	}
}
