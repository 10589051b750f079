package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

var (
	// ErrInjected is the error an injected error fault returns unless
	// Faults.Error names another.
	ErrInjected = errors.New("chaos: injected fault")
	// ErrPanic is the value an injected panic panics with.
	ErrPanic = errors.New("chaos: injected panic")
)

// Faults says which faults to inject and how often. Each rate is the
// fraction of calls, in [0, 1], that get the fault.
type Faults struct {
	// ErrorRate is the fraction of calls that fail with Error without
	// running op.
	ErrorRate float64
	// Error is the injected error; nil means ErrInjected.
	Error error

	// PanicRate is the fraction of calls that panic with ErrPanic without
	// running op. A call gets at most one of an error and a panic, so
	// ErrorRate + PanicRate must not exceed 1.
	PanicRate float64

	// LatencyRate is the fraction of calls delayed by Latency before they go
	// on (to op, or to an injected error or panic). It is drawn
	// independently of the other two.
	LatencyRate float64
	// Latency is the added delay: > 0 when LatencyRate is set, >= 0 always.
	Latency time.Duration
}

// Config configures an Injector. The zero Config is the default
// configuration: an enabled Injector that injects nothing until rates are
// set (here or with SetFaults), with a random seed.
type Config struct {
	// Name names the Injector in its events (Event.Component).
	Name string
	// Observer receives the Injector's events (Injected). nil observes
	// nothing and costs nothing.
	Observer bulwark.Observer

	// Faults are the faults injected from the start; SetFaults changes them.
	// The zero Faults inject nothing.
	Faults

	// Seed makes the sequence of faults reproducible. 0 means a random seed,
	// which Injector.Seed reports.
	Seed uint64

	// Disabled starts the Injector switched off: calls run untouched until
	// Enable. Off by default, that is the Injector starts injecting.
	Disabled bool

	// Clock times the added latency. nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults that the zero Config stands for: an
// enabled Injector that injects nothing until rates are set (here or with
// SetFaults), with a random seed.
func DefaultConfig() Config {
	return Config{}
}

// Fault is a kind of injected fault.
type Fault int

// The kinds of fault an Injector injects.
const (
	FaultLatency Fault = iota + 1
	FaultError
	FaultPanic
)

func (f Fault) String() string {
	switch f {
	case FaultLatency:
		return "latency"
	case FaultError:
		return "error"
	case FaultPanic:
		return "panic"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Injector is a policy that injects faults into the calls it runs. It is
// safe for concurrent use, including its switches. The zero Injector is not
// usable: its methods panic; make one with New.
type Injector struct {
	state    atomic.Pointer[state]
	calls    atomic.Uint64 // calls that reached the dice, numbering them
	seed     uint64
	cfg      Config
	name     string
	observer bulwark.Observer
	clock    clock.Clock
}

// state is what the switches and Reconfigure change, replaced whole so that
// each call sees one state.
type state struct {
	faults  Faults
	enabled bool
}

// New returns an Injector, or an error naming the first invalid field of cfg.
func New(cfg Config) (*Injector, error) {
	if err := cfg.Faults.validate("Config"); err != nil {
		return nil, err
	}
	seed := cfg.Seed
	for seed == 0 {
		seed = rand.Uint64()
	}
	inj := &Injector{seed: seed, cfg: cfg, name: cfg.Name, observer: cfg.Observer, clock: clock.OrSystem(cfg.Clock)}
	inj.state.Store(&state{faults: cfg.Faults, enabled: !cfg.Disabled})
	return inj, nil
}

func (f *Faults) validate(owner string) error {
	for _, r := range []struct {
		name string
		rate float64
	}{{"ErrorRate", f.ErrorRate}, {"PanicRate", f.PanicRate}, {"LatencyRate", f.LatencyRate}} {
		if !(r.rate >= 0 && r.rate <= 1) {
			return fmt.Errorf("chaos: %s.%s must be in [0, 1], got %v", owner, r.name, r.rate)
		}
	}
	if f.ErrorRate+f.PanicRate > 1 {
		return fmt.Errorf("chaos: %s.ErrorRate + %s.PanicRate must be at most 1, got %v", owner, owner, f.ErrorRate+f.PanicRate)
	}
	if f.Latency < 0 {
		return fmt.Errorf("chaos: %s.Latency must be >= 0, got %v", owner, f.Latency)
	}
	if f.LatencyRate > 0 && f.Latency == 0 {
		return fmt.Errorf("chaos: %s.Latency must be > 0 when LatencyRate is set, got 0", owner)
	}
	return nil
}

// Do runs op, unless the dice say otherwise. While the Injector is enabled,
// each call is first delayed by Faults.Latency with probability LatencyRate
// (a ctx done during the delay ends the call with ctx's error, wrapped, and
// op does not run); then it panics with ErrPanic with probability PanicRate,
// or returns Faults.Error without running op with probability ErrorRate;
// otherwise op runs. While disabled, Do is op(ctx) behind one atomic load.
//
// Each fault is reported to the Observer as Injected, on the caller's
// goroutine, just before it is injected. Do panics on an Injector not made
// by New.
func (i *Injector) Do(ctx context.Context, op func(context.Context) error) error {
	i.check()
	st := i.state.Load()
	if !st.enabled {
		return op(ctx)
	}
	f := &st.faults
	n := i.calls.Add(1)
	if f.LatencyRate > 0 && uniform(i.seed, 2*n) < f.LatencyRate {
		i.report(ctx, FaultLatency, n)
		if err := clock.Sleep(ctx, i.clock, f.Latency); err != nil {
			return fmt.Errorf("chaos: during injected latency: %w", err)
		}
	}
	if f.PanicRate > 0 || f.ErrorRate > 0 {
		u := uniform(i.seed, 2*n+1)
		switch {
		case u < f.PanicRate:
			i.report(ctx, FaultPanic, n)
			panic(ErrPanic)
		case u < f.PanicRate+f.ErrorRate:
			i.report(ctx, FaultError, n)
			if f.Error != nil {
				return f.Error
			}
			return ErrInjected
		}
	}
	return op(ctx)
}

func (i *Injector) report(ctx context.Context, f Fault, call uint64) {
	if i.observer != nil {
		i.observer.Observe(ctx, Injected{Name: i.name, Fault: f, Call: call})
	}
}

func (i *Injector) check() {
	if i.clock == nil {
		panic("chaos: Injector used without New")
	}
}

// Enable switches fault injection on.
func (i *Injector) Enable() { i.update(func(s *state) { s.enabled = true }) }

// Disable switches fault injection off: calls run untouched until Enable.
func (i *Injector) Disable() { i.update(func(s *state) { s.enabled = false }) }

// Enabled reports whether faults are being injected.
func (i *Injector) Enabled() bool { i.check(); return i.state.Load().enabled }

// SetFaults replaces the faults injected from now on, or returns an error
// naming the first invalid field of f and changes nothing. Calls already
// past their dice keep the faults they drew.
func (i *Injector) SetFaults(f Faults) error {
	i.check()
	if err := f.validate("Faults"); err != nil {
		return err
	}
	i.update(func(s *state) { s.faults = f })
	return nil
}

// Faults returns the faults being injected.
func (i *Injector) Faults() Faults { i.check(); return i.state.Load().faults }

// Reconfigure applies cfg's Faults and Disabled together, as one change, to
// the calls that reach the dice from now on, or returns an error naming the
// first invalid field of cfg and changes nothing. The dice go on from where
// they are: cfg's Seed is not read, nor are the collaborators given to New
// (Name, Observer, Clock).
func (i *Injector) Reconfigure(cfg Config) error {
	i.check()
	if err := cfg.Faults.validate("Config"); err != nil {
		return err
	}
	i.state.Store(&state{faults: cfg.Faults, enabled: !cfg.Disabled})
	return nil
}

// Settings returns the Config the Injector runs with now: New's, with the
// faults and switch as they are (Seed is the one in use).
func (i *Injector) Settings() Config {
	i.check()
	st := i.state.Load()
	cfg := i.cfg
	cfg.Faults, cfg.Disabled, cfg.Seed = st.faults, !st.enabled, i.seed
	return cfg
}

// update replaces the state with a changed copy, retrying when another
// change came in between.
func (i *Injector) update(change func(*state)) {
	i.check()
	for {
		old := i.state.Load()
		next := *old
		change(&next)
		if i.state.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Seed returns the seed of the Injector's dice: Config.Seed, or the random
// one chosen when that was 0.
func (i *Injector) Seed() uint64 { i.check(); return i.seed }

// uniform returns a number in [0, 1) that depends only on seed and n
// (SplitMix64's finaliser over the pair): the dice of call n.
func uniform(seed, n uint64) float64 {
	z := seed + n*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}
