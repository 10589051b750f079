package hedge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// ErrLost is the cause (context.Cause) of an attempt's context when another
// attempt of the same call succeeded first.
var ErrLost = errors.New("hedge: another attempt succeeded first")

// errPanicked is the cause of the attempts' context when one of them
// panicked: the call is over and Do will re-raise the panic.
var errPanicked = errors.New("hedge: another attempt panicked")

// Named settings for fields whose zero value means a default.
const (
	// NoDelay, as Config.Delay, starts every attempt at once: the call
	// races MaxHedges+1 attempts from the start.
	NoDelay time.Duration = -1
	// NoPercentile, as Config.Percentile, keeps the delay fixed at
	// Config.Delay instead of following recent latencies.
	NoPercentile float64 = -1
)

// The defaults that zero Config fields stand for.
const (
	// DefaultDelay is Config.Delay when it is 0.
	DefaultDelay = 50 * time.Millisecond
	// DefaultMaxHedges is Config.MaxHedges when it is 0.
	DefaultMaxHedges = 1
	// DefaultPercentile is Config.Percentile when it is 0.
	DefaultPercentile = 95.0
	// DefaultWindow is Config.Window when it is 0.
	DefaultWindow = 100
)

// Config configures a Hedger. The zero Config is the default configuration
// (see DefaultConfig): every zero field means the default its comment
// names.
type Config struct {
	// Name names the Hedger in its events (Event.Component).
	Name string
	// Observer receives the Hedger's events (Hedged). nil observes nothing
	// and costs nothing.
	Observer bulwark.Observer

	// Delay is how long the latest attempt may go unanswered before the next
	// one starts: 0 means DefaultDelay (50ms), NoDelay starts every attempt
	// at once, otherwise in (0, 1h]. With a Percentile, Delay is used until
	// Window latencies are known.
	Delay time.Duration
	// MaxHedges is how many attempts may start after the first: 0 means
	// DefaultMaxHedges (1), otherwise in [1, 10].
	MaxHedges int
	// Percentile sets the delay to this percentile of the first attempt's
	// latency over the last Window successful hedged calls: 0 means
	// DefaultPercentile (95), NoPercentile keeps Delay fixed, otherwise in
	// (0, 100]. A first attempt that lost to another counts with how long
	// it had run by then; one that failed does not count. It costs two
	// clock reads per hedged call.
	Percentile float64
	// Window is how many latencies Percentile is taken over: 0 means
	// DefaultWindow (100), otherwise in [1, 100000]. Unused with
	// NoPercentile.
	Window int
	// AllIdempotent, when true, hedges every call. When false (the
	// default), Do hedges only calls whose context was marked by
	// Idempotent, and runs the others once.
	AllIdempotent bool
	// Clock is the time source for delays and latencies; nil means
	// clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults that the zero Config stands for,
// spelled out: one hedge, at the 95th percentile of the last 100 calls'
// latency, after 50ms until those are known, for calls marked idempotent.
func DefaultConfig() Config {
	return Config{Delay: DefaultDelay, MaxHedges: DefaultMaxHedges, Percentile: DefaultPercentile, Window: DefaultWindow}
}

// Hedger runs idempotent operations with hedged attempts. It is safe for
// concurrent use; share one per downstream, so its latency window sees all
// the downstream's calls. The zero Hedger is not usable: make one with New.
type Hedger struct {
	name        string
	observer    bulwark.Observer
	clock       clock.Clock
	systemClock bool
	cfg         Config
	settings    atomic.Pointer[settings]
}

// settings are what Reconfigure changes: a call reads them once, when it
// starts, and keeps them to its end.
type settings struct {
	delay         time.Duration
	maxHedges     int
	allIdempotent bool
	percentile    float64    // 0 with NoPercentile
	window        int        // 0 with NoPercentile
	latencies     *latencies // nil with NoPercentile
}

// New returns a Hedger, or an error naming the first invalid setting.
func New(cfg Config) (*Hedger, error) {
	s, err := newSettings(cfg, nil)
	if err != nil {
		return nil, err
	}
	h := &Hedger{name: cfg.Name, observer: cfg.Observer, clock: clock.OrSystem(cfg.Clock), cfg: cfg}
	h.systemClock = h.clock == clock.System
	h.settings.Store(s)
	return h, nil
}

// Reconfigure applies cfg's Delay, MaxHedges, Percentile, Window and
// AllIdempotent to the calls that start from now on; a call already running
// keeps the settings it started with. The latencies measured so far are kept
// (the most recent ones, up to the new Window), so a new Percentile applies
// at once when enough are known. cfg is checked as New checks it, and an
// invalid one is refused with the settings left as they were. The
// collaborators given to New (Name, Observer, Clock) stay; cfg's are not
// read. Safe to call during calls.
func (h *Hedger) Reconfigure(cfg Config) error {
	h.check()
	s, err := newSettings(cfg, h.settings.Load())
	if err != nil {
		return err
	}
	h.settings.Store(s)
	return nil
}

// Settings returns the Config the Hedger runs with now: New's, with the
// settings of the last successful Reconfigure.
func (h *Hedger) Settings() Config {
	h.check()
	s := h.settings.Load()
	cfg := h.cfg
	cfg.Delay, cfg.MaxHedges, cfg.AllIdempotent = s.delay, s.maxHedges, s.allIdempotent
	if s.delay == 0 {
		cfg.Delay = NoDelay
	}
	cfg.Percentile, cfg.Window = s.percentile, s.window
	if s.latencies == nil {
		cfg.Percentile, cfg.Window = NoPercentile, 0
	}
	return cfg
}

// newSettings checks cfg and turns it into settings, carrying the latencies
// of old (nil from New) over.
func newSettings(cfg Config, old *settings) (*settings, error) {
	// Written so that NaN fails: every comparison with NaN is false.
	switch {
	case cfg.Delay != NoDelay && (cfg.Delay < 0 || cfg.Delay > time.Hour):
		return nil, fmt.Errorf("hedge: Config.Delay must be hedge.NoDelay or in [0, 1h] (0 means %v), got %v", DefaultDelay, cfg.Delay)
	case cfg.MaxHedges < 0 || cfg.MaxHedges > 10:
		return nil, fmt.Errorf("hedge: Config.MaxHedges must be in [0, 10] (0 means %d), got %d", DefaultMaxHedges, cfg.MaxHedges)
	case !(cfg.Percentile == NoPercentile || (cfg.Percentile >= 0 && cfg.Percentile <= 100)):
		return nil, fmt.Errorf("hedge: Config.Percentile must be hedge.NoPercentile or in [0, 100] (0 means %v), got %v", DefaultPercentile, cfg.Percentile)
	case cfg.Window < 0 || cfg.Window > 100000:
		return nil, fmt.Errorf("hedge: Config.Window must be in [0, 100000] (0 means %d), got %d", DefaultWindow, cfg.Window)
	}
	s := &settings{delay: cfg.Delay, maxHedges: cmp.Or(cfg.MaxHedges, DefaultMaxHedges), allIdempotent: cfg.AllIdempotent}
	switch s.delay {
	case 0:
		s.delay = DefaultDelay
	case NoDelay:
		s.delay = 0
	}
	if cfg.Percentile != NoPercentile {
		s.percentile, s.window = cmp.Or(cfg.Percentile, DefaultPercentile), cmp.Or(cfg.Window, DefaultWindow)
		switch {
		case old == nil || old.latencies == nil:
			s.latencies = newLatencies(s.percentile, s.window)
		case old.percentile == s.percentile && old.window == s.window:
			s.latencies = old.latencies
		default:
			s.latencies = old.latencies.resized(s.percentile, s.window)
		}
	}
	return s, nil
}

type idempotentKey struct{}

// Idempotent returns a context that marks the call made with it as safe to
// run more than once, so a Hedger may hedge it.
func Idempotent(ctx context.Context) context.Context {
	return context.WithValue(ctx, idempotentKey{}, true)
}

// IsIdempotent reports whether ctx was marked by Idempotent.
func IsIdempotent(ctx context.Context) bool {
	marked, _ := ctx.Value(idempotentKey{}).(bool)
	return marked
}

// Delay returns how long the next hedged call will let an attempt go
// unanswered before starting another: Config.Delay, or the latency
// percentile once Window latencies are known.
func (h *Hedger) Delay() time.Duration {
	h.check()
	return h.settings.Load().nextDelay()
}

func (s *settings) nextDelay() time.Duration {
	if s.latencies != nil {
		if d, ok := s.latencies.percentile(); ok {
			return d
		}
	}
	return s.delay
}

func (h *Hedger) check() {
	if h.clock == nil {
		panic("hedge: Hedger used without New")
	}
}

// Do runs op. For a call that may be hedged, each time the latest attempt
// has run for the delay without an answer another starts, up to MaxHedges
// more; Do returns nil at the first success, cancels the other attempts
// (cause ErrLost) and waits for them to return. When every attempt started
// has failed, Do returns the first attempt's error — what the call would
// have returned unhedged — without starting more: hedging covers slowness,
// not failure (compose with retry for that). When ctx ends first, Do
// cancels every attempt, waits for them and returns ctx.Err() wrapped.
// Attempts must return promptly once their context is cancelled.
//
// The first attempt runs on the caller's goroutine and each hedge on one of
// its own, started only when its delay has passed: a hedged call answered in
// time starts no goroutine. A call that may not be hedged runs op(ctx) once
// and returns its error, allocating nothing.
//
// No attempt outlives the call, even one that panics. When any attempt
// panics, Do starts no more hedges, cancels the others, waits for every
// attempt to return, and then panics on the caller's goroutine with the
// first panic's value — a hedge's panic too, which would otherwise end the
// process — so a recover around Do catches it. Do panics on a Hedger not
// made by New.
func (h *Hedger) Do(ctx context.Context, op func(context.Context) error) error {
	h.check()
	s := h.settings.Load()
	if !s.allIdempotent && !IsIdempotent(ctx) {
		return op(ctx)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hedge: not attempted: %w", err)
	}
	return h.hedge(ctx, s, op)
}

// call is one hedged call. Its first attempt runs on the caller's goroutine;
// each hedge runs on the goroutine of the timer that started it, so a call
// whose first attempt answers in time starts no goroutine at all (on the
// system clock).
type call struct {
	h      *Hedger
	s      *settings
	caller context.Context // the caller's, for the Observer
	ctx    context.Context // every attempt's
	cancel context.CancelCauseFunc
	op     func(context.Context) error
	delay  time.Duration

	mu       sync.Mutex
	closed   bool // no more hedges may start
	started  int  // attempts started, the first included
	timer    stopper
	results  chan error // the hedges' outcomes, made when the first starts
	panicked bool       // a hedge panicked, with panicVal
	panicVal any

	// running counts timer goroutines, and so every hedge attempt: Do
	// waits for it to reach zero before it returns.
	running sync.WaitGroup
}

// arm schedules the next hedge. c.mu is held.
func (c *call) arm() {
	c.running.Add(1)
	c.timer = afterFunc(c.h.clock, c.h.systemClock, c.delay, c.fire, &c.running)
}

// fire starts a hedge, on the timer's goroutine, unless the call is over.
func (c *call) fire() {
	defer c.running.Done()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.started++
	attempt := c.started
	if c.results == nil {
		c.results = make(chan error, c.s.maxHedges)
	}
	results := c.results
	if attempt <= c.s.maxHedges {
		c.arm()
	}
	c.mu.Unlock()

	err := c.runHedge(attempt)
	if err == nil {
		c.cancel(ErrLost) // the first attempt may be waiting on it
	}
	results <- err
}

// runHedge reports and runs hedge number attempt. A panic there (in op or
// the Observer) is recorded for Do to re-raise on the caller's goroutine,
// cancels the other attempts, and reads as errPanicked.
func (c *call) runHedge(attempt int) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.mu.Lock()
			if !c.panicked {
				c.panicked, c.panicVal = true, v
			}
			c.mu.Unlock()
			c.cancel(errPanicked)
			err = errPanicked
		}
	}()
	if c.h.observer != nil {
		c.h.observer.Observe(c.caller, Hedged{Name: c.h.name, Attempt: attempt, Delay: c.delay})
	}
	return c.op(c.ctx)
}

// close lets no more hedges start, and reports how many attempts started
// and the channel of the hedges' outcomes.
func (c *call) close() (started int, results chan error) {
	c.mu.Lock()
	c.closed = true
	timer := c.timer
	started, results = c.started, c.results
	c.mu.Unlock()
	timer.Stop()
	return started, results
}

// end lets no more hedges start, cancels the attempts still running with
// cause (unless nil), waits for every one of them to return, and then
// re-raises a hedge's panic, if there was one.
func (c *call) end(cause error) {
	c.close()
	if cause != nil {
		c.cancel(cause)
	}
	c.running.Wait()
	if c.panicked { // written before the hedge's running.Done
		panic(c.panicVal)
	}
}

func (h *Hedger) hedge(ctx context.Context, s *settings, op func(context.Context) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &call{h: h, s: s, caller: ctx, ctx: actx, cancel: cancel, op: op, delay: s.nextDelay(), started: 1}
	var began time.Time
	if s.latencies != nil {
		began = h.clock.Now()
	}
	c.mu.Lock()
	c.arm()
	c.mu.Unlock()

	returned := false
	defer func() {
		if !returned {
			// The first attempt panicked (or called runtime.Goexit): its
			// panic goes on unwinding once no hedge can start and every
			// hedge has returned.
			c.close()
			cancel(errPanicked)
			c.running.Wait()
		}
	}()
	firstErr := op(actx)
	returned = true
	// The first attempt lost if a hedge's success cancelled it; if it failed
	// on its own, its latency says nothing about how long a success takes.
	firstLost := firstErr != nil && context.Cause(actx) == ErrLost
	if firstErr == nil {
		c.end(ErrLost)
		h.observe(s, began)
		return nil
	}

	finished := 1
	for {
		c.mu.Lock()
		allDone := finished == c.started
		results := c.results
		c.mu.Unlock()
		if allDone {
			// Every attempt started has failed, and closing now may race
			// with a timer that is starting one more: count again.
			if started, _ := c.close(); started == finished {
				c.end(nil)
				return failure(ctx, firstErr)
			}
			continue
		}
		select {
		case err := <-results:
			finished++
			switch err {
			case nil:
				c.end(nil)
				if firstLost {
					h.observe(s, began)
				}
				return nil
			case errPanicked:
				c.end(errPanicked) // panics
			}
		case <-ctx.Done():
			c.end(nil) // the attempts' context, under ctx, is done too
			return fmt.Errorf("hedge: %w", ctx.Err())
		}
	}
}

// observe records the first attempt's latency, for Percentile.
func (h *Hedger) observe(s *settings, began time.Time) {
	if s.latencies != nil {
		s.latencies.record(h.clock.Now().Sub(began))
	}
}

// failure is what Do returns when every attempt failed.
func failure(ctx context.Context, firstErr error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hedge: %w (first attempt: %w)", err, firstErr)
	}
	return firstErr
}
