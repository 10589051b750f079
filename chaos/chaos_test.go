package chaos_test

import (
	"context"
	"errors"
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newInjector(t *testing.T, cfg chaos.Config) *chaos.Injector {
	t.Helper()
	inj, err := chaos.New(cfg)
	require.NoError(t, err)
	return inj
}

func succeed(context.Context) error { return nil }

// onFault returns an Observer that passes the fault of each Injected event
// to fn.
func onFault(fn func(chaos.Fault)) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { fn(e.(chaos.Injected).Fault) })
}

// instantClock is a clock whose timers fire at once: injected latency costs
// nothing, so tests can count latency faults over many calls.
type instantClock struct{}

func (instantClock) Now() time.Time { return epoch }
func (instantClock) NewTimer(time.Duration) clock.Timer {
	c := make(chan time.Time, 1)
	c <- epoch
	return firedTimer(c)
}

type firedTimer chan time.Time

func (t firedTimer) C() <-chan time.Time { return t }
func (t firedTimer) Stop() bool          { return false }

func TestNewRejectsInvalidFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults chaos.Faults
		want   string
	}{
		{"negative error rate", chaos.Faults{ErrorRate: -0.1}, "chaos: Config.ErrorRate must be in [0, 1], got -0.1"},
		{"error rate above 1", chaos.Faults{ErrorRate: 1.5}, "chaos: Config.ErrorRate must be in [0, 1], got 1.5"},
		{"NaN panic rate", chaos.Faults{PanicRate: math.NaN()}, "chaos: Config.PanicRate must be in [0, 1], got NaN"},
		{"latency rate above 1", chaos.Faults{LatencyRate: 2, Latency: time.Second}, "chaos: Config.LatencyRate must be in [0, 1], got 2"},
		{"error and panic above 1", chaos.Faults{ErrorRate: 0.6, PanicRate: 0.5}, "chaos: Config.ErrorRate + Config.PanicRate must be at most 1, got 1.1"},
		{"negative latency", chaos.Faults{Latency: -time.Second}, "chaos: Config.Latency must be >= 0, got -1s"},
		{"latency rate without latency", chaos.Faults{LatencyRate: 0.5}, "chaos: Config.Latency must be > 0 when LatencyRate is set, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chaos.New(chaos.Config{Faults: tc.faults})
			assert.EqualError(t, err, tc.want)

			inj := newInjector(t, chaos.DefaultConfig())
			err = inj.SetFaults(tc.faults)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Faults.", "SetFaults names its own argument")
			assert.Equal(t, chaos.Faults{}, inj.Faults(), "a rejected SetFaults changes nothing")
		})
	}
	_, err := chaos.New(chaos.Config{Faults: chaos.Faults{ErrorRate: 0.5, PanicRate: 0.5, LatencyRate: 1, Latency: time.Millisecond}})
	assert.NoError(t, err, "bounds are inclusive")
}

func TestDefaultConfigInjectsNothing(t *testing.T) {
	inj := newInjector(t, chaos.DefaultConfig())
	assert.True(t, inj.Enabled())
	for range 1000 {
		ran := false
		require.NoError(t, inj.Do(context.Background(), func(context.Context) error { ran = true; return nil }))
		require.True(t, ran)
	}
}

func TestErrorFault(t *testing.T) {
	var faults []chaos.Fault
	inj := newInjector(t, chaos.Config{Faults: chaos.Faults{ErrorRate: 1}, Observer: onFault(func(f chaos.Fault) { faults = append(faults, f) })})
	ran := false
	err := inj.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	assert.Equal(t, chaos.ErrInjected, err)
	assert.False(t, ran, "an injected error replaces the call")
	assert.Equal(t, []chaos.Fault{chaos.FaultError}, faults)

	unavailable := errors.New("503 from inventory")
	require.NoError(t, inj.SetFaults(chaos.Faults{ErrorRate: 1, Error: unavailable}))
	assert.Equal(t, unavailable, inj.Do(context.Background(), succeed), "the configured error, as is")
}

func TestPanicFault(t *testing.T) {
	var faults []chaos.Fault
	inj := newInjector(t, chaos.Config{Faults: chaos.Faults{PanicRate: 1}, Observer: onFault(func(f chaos.Fault) { faults = append(faults, f) })})
	ran := false
	assert.PanicsWithValue(t, chaos.ErrPanic, func() {
		_ = inj.Do(context.Background(), func(context.Context) error { ran = true; return nil })
	})
	assert.False(t, ran)
	assert.Equal(t, []chaos.Fault{chaos.FaultPanic}, faults)
}

func TestLatencyFault(t *testing.T) {
	fc := clocktest.New(epoch)
	var faults atomic.Int64
	inj := newInjector(t, chaos.Config{
		Faults:   chaos.Faults{LatencyRate: 1, Latency: time.Second},
		Clock:    fc,
		Observer: onFault(func(f chaos.Fault) { assert.Equal(t, chaos.FaultLatency, f); faults.Add(1) }),
	})
	var ranAt time.Time
	done := make(chan error, 1)
	go func() {
		done <- inj.Do(context.Background(), func(context.Context) error { ranAt = fc.Now(); return nil })
	}()
	fc.BlockUntil(1)
	fc.Advance(999 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("the call went on before its added latency")
	default:
	}
	fc.Advance(time.Millisecond)
	require.NoError(t, <-done)
	assert.Equal(t, epoch.Add(time.Second), ranAt, "op ran after the latency")
	assert.Equal(t, int64(1), faults.Load())
}

func TestLatencyEndsWithTheContext(t *testing.T) {
	fc := clocktest.New(epoch)
	inj := newInjector(t, chaos.Config{Faults: chaos.Faults{LatencyRate: 1, Latency: time.Hour}, Clock: fc})
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	done := make(chan error, 1)
	go func() { done <- inj.Do(ctx, func(context.Context) error { ran = true; return nil }) }()
	fc.BlockUntil(1)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, ran)
	assert.Zero(t, fc.Timers(), "the latency timer is stopped")
}

func TestLatencyThenError(t *testing.T) {
	var faults []chaos.Fault
	inj := newInjector(t, chaos.Config{
		Faults:   chaos.Faults{LatencyRate: 1, Latency: time.Second, ErrorRate: 1},
		Clock:    instantClock{},
		Observer: onFault(func(f chaos.Fault) { faults = append(faults, f) }),
	})
	assert.Equal(t, chaos.ErrInjected, inj.Do(context.Background(), succeed))
	assert.Equal(t, []chaos.Fault{chaos.FaultLatency, chaos.FaultError}, faults, "a late call may fail too")
}

func TestSwitchOffAndOn(t *testing.T) {
	inj := newInjector(t, chaos.Config{Faults: chaos.Faults{ErrorRate: 1}, Disabled: true})
	assert.False(t, inj.Enabled())
	assert.NoError(t, inj.Do(context.Background(), succeed), "starts switched off")
	inj.Enable()
	assert.True(t, inj.Enabled())
	assert.ErrorIs(t, inj.Do(context.Background(), succeed), chaos.ErrInjected)
	inj.Disable()
	assert.NoError(t, inj.Do(context.Background(), succeed))
	inj.Enable()
	require.NoError(t, inj.SetFaults(chaos.Faults{}))
	assert.NoError(t, inj.Do(context.Background(), succeed), "rates changed at run time")
}

// counts runs calls through inj and counts each kind of fault, and the calls
// that reached op.
type counts struct{ errors, panics, ran int }

func run(inj *chaos.Injector, calls int) (c counts) {
	for range calls {
		func() {
			defer func() {
				if recover() == chaos.ErrPanic {
					c.panics++
				}
			}()
			err := inj.Do(context.Background(), func(context.Context) error { c.ran++; return nil })
			if errors.Is(err, chaos.ErrInjected) {
				c.errors++
			}
		}()
	}
	return c
}

// Over many calls each fault comes at its rate, for any seed.
func TestRatesAreHonoured(t *testing.T) {
	const calls = 20000
	faults := chaos.Faults{ErrorRate: 0.3, PanicRate: 0.1, LatencyRate: 0.2, Latency: time.Second}
	for range 5 {
		seed := rand.Uint64()
		var latency int
		inj := newInjector(t, chaos.Config{Faults: faults, Seed: seed, Clock: instantClock{}, Observer: onFault(func(f chaos.Fault) {
			if f == chaos.FaultLatency {
				latency++
			}
		})})
		c := run(inj, calls)
		// Five standard deviations: a correct injector fails this about once
		// in two million seeds.
		within := func(name string, got int, rate float64) {
			tol := 5 * math.Sqrt(rate*(1-rate)/calls)
			assert.InDelta(t, rate, float64(got)/calls, tol, "%s rate, seed %d", name, seed)
		}
		within("error", c.errors, 0.3)
		within("panic", c.panics, 0.1)
		within("latency", latency, 0.2)
		assert.Equal(t, calls, c.errors+c.panics+c.ran, "every call either failed, panicked or ran; seed %d", seed)
	}
}

// The n-th call gets the same faults on every run with the same seed.
func TestSeedReproducesTheSequence(t *testing.T) {
	faults := chaos.Faults{ErrorRate: 0.3, PanicRate: 0.1, LatencyRate: 0.2, Latency: time.Second}
	sequence := func(seed uint64) []chaos.Fault {
		var seq []chaos.Fault
		inj := newInjector(t, chaos.Config{Faults: faults, Seed: seed, Clock: instantClock{}, Observer: onFault(func(f chaos.Fault) { seq = append(seq, f) })})
		run(inj, 500)
		return seq
	}
	assert.Equal(t, sequence(42), sequence(42))
	assert.NotEqual(t, sequence(42), sequence(43))

	random := newInjector(t, chaos.DefaultConfig())
	assert.NotZero(t, random.Seed())
	assert.NotEqual(t, random.Seed(), newInjector(t, chaos.DefaultConfig()).Seed(), "seed 0 picks a random seed")
	assert.Equal(t, uint64(42), newInjector(t, chaos.Config{Seed: 42}).Seed())
}

// Goroutines change which of them gets which call number, not the faults the
// numbers get: the same seed yields the same counts under concurrency.
func TestSeedReproducesCountsUnderConcurrency(t *testing.T) {
	faults := chaos.Faults{ErrorRate: 0.25, LatencyRate: 0.25, Latency: time.Second}
	count := func(goroutines int) (errs, latency int64) {
		var e, l atomic.Int64
		inj := newInjector(t, chaos.Config{Faults: faults, Seed: 7, Clock: instantClock{}, Observer: onFault(func(f chaos.Fault) {
			if f == chaos.FaultLatency {
				l.Add(1)
			}
		})})
		var wg sync.WaitGroup
		for range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4000 / goroutines {
					if inj.Do(context.Background(), succeed) != nil {
						e.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return e.Load(), l.Load()
	}
	e1, l1 := count(1)
	e8, l8 := count(8)
	assert.Equal(t, e1, e8)
	assert.Equal(t, l1, l8)
}

func TestSwitchesAreSafeDuringCalls(t *testing.T) {
	inj := newInjector(t, chaos.Config{Faults: chaos.Faults{ErrorRate: 0.5}, Clock: instantClock{}})
	loadtest.While(4, func() { _ = inj.Do(context.Background(), succeed) }, func() {
		for i := range 200 {
			if i%2 == 0 {
				inj.Disable()
			} else {
				inj.Enable()
			}
			require.NoError(t, inj.SetFaults(chaos.Faults{ErrorRate: float64(i%10) / 10, LatencyRate: 0.1, Latency: time.Millisecond}))
		}
	})
}

func TestCallsWithoutFaultsAllocateNothing(t *testing.T) {
	ctx := context.Background()
	off := newInjector(t, chaos.Config{Faults: chaos.Faults{ErrorRate: 1}, Disabled: true})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = off.Do(ctx, succeed) }))
	on := newInjector(t, chaos.Config{Faults: chaos.Faults{ErrorRate: 0.5}})
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = on.Do(ctx, succeed) }), "nor do the dice, or an injected error")
}

func TestFaultString(t *testing.T) {
	assert.Equal(t, "latency", chaos.FaultLatency.String())
	assert.Equal(t, "error", chaos.FaultError.String())
	assert.Equal(t, "panic", chaos.FaultPanic.String())
	assert.Equal(t, "Fault(9)", chaos.Fault(9).String())
}

func TestZeroInjectorPanics(t *testing.T) {
	var inj chaos.Injector
	for name, method := range map[string]func(){
		"Do":        func() { _ = inj.Do(context.Background(), succeed) },
		"Enable":    inj.Enable,
		"Disable":   inj.Disable,
		"Enabled":   func() { inj.Enabled() },
		"SetFaults": func() { _ = inj.SetFaults(chaos.Faults{}) },
		"Faults":    func() { inj.Faults() },
		"Seed":      func() { inj.Seed() },
	} {
		assert.PanicsWithValue(t, "chaos: Injector used without New", method, name)
	}
}

func TestZeroConfigInjectsNothing(t *testing.T) {
	inj := newInjector(t, chaos.Config{})
	assert.True(t, inj.Enabled())
	assert.Equal(t, chaos.Faults{}, inj.Faults())
	assert.NotZero(t, inj.Seed())
	for range 1000 {
		require.NoError(t, inj.Do(context.Background(), succeed))
	}
}

func TestInjectedEvent(t *testing.T) {
	type key struct{}
	var got []bulwark.Event
	var ctxValues []any
	inj := newInjector(t, chaos.Config{
		Name:   "inventory",
		Faults: chaos.Faults{ErrorRate: 1, LatencyRate: 1, Latency: time.Second},
		Clock:  instantClock{},
		Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			got = append(got, e)
			ctxValues = append(ctxValues, ctx.Value(key{}))
		}),
	})
	ctx := context.WithValue(context.Background(), key{}, "caller")
	for range 2 {
		require.ErrorIs(t, inj.Do(ctx, succeed), chaos.ErrInjected)
	}
	assert.Equal(t, []bulwark.Event{
		chaos.Injected{Name: "inventory", Fault: chaos.FaultLatency, Call: 1},
		chaos.Injected{Name: "inventory", Fault: chaos.FaultError, Call: 1},
		chaos.Injected{Name: "inventory", Fault: chaos.FaultLatency, Call: 2},
		chaos.Injected{Name: "inventory", Fault: chaos.FaultError, Call: 2},
	}, got)
	assert.Equal(t, []any{"caller", "caller", "caller", "caller"}, ctxValues)
	assert.Equal(t, "chaos.injected", got[0].Kind())
	assert.Equal(t, "inventory", got[0].Component())
	assert.Equal(t, "[fault=error call=2]", got[3].LogValue().String())
}
