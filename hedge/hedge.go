package hedge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// ErrLost is the cause (context.Cause) of an attempt's context when another
// attempt of the same call succeeded first.
var ErrLost = errors.New("hedge: another attempt succeeded first")

// Config configures a Hedger. Start from DefaultConfig.
type Config struct {
	// Delay is how long the latest attempt may go unanswered before the next
	// one starts, in [0, 1h]; 0 starts every attempt at once. With
	// Percentile set, Delay is used until Window latencies are known.
	Delay time.Duration
	// MaxHedges is how many attempts may start after the first, in [1, 10].
	MaxHedges int
	// Percentile, when > 0, sets the delay to this percentile, in (0, 100],
	// of the first attempt's latency over the last Window successful hedged
	// calls. A first attempt that lost to another counts with how long it had
	// run by then; one that failed does not count. It costs two clock reads
	// per hedged call.
	Percentile float64
	// Window is how many latencies Percentile is taken over, in
	// [1, 100000]; used, and required, only with Percentile.
	Window int
	// AllIdempotent, when true, hedges every call. When false, Do hedges
	// only calls whose context was marked by Idempotent, and runs the others
	// once.
	AllIdempotent bool
	// OnHedge, when set, is called as an attempt after the first starts,
	// with its number (2 for the first hedge) and the delay waited for it.
	OnHedge func(attempt int, delay time.Duration)
	// Clock is the time source for delays and latencies; nil means
	// clock.System.
	Clock clock.Clock
}

// DefaultConfig returns one hedge at the 95th percentile of the last 100
// calls' latency, starting from 50ms, for calls marked idempotent.
func DefaultConfig() Config {
	return Config{Delay: 50 * time.Millisecond, MaxHedges: 1, Percentile: 95, Window: 100}
}

// Hedger runs idempotent operations with hedged attempts. It is safe for
// concurrent use; share one per downstream, so its latency window sees all
// the downstream's calls.
type Hedger struct {
	delay         time.Duration
	maxHedges     int
	allIdempotent bool
	onHedge       func(int, time.Duration)
	clock         clock.Clock
	systemClock   bool
	latencies     *latencies // nil without Percentile
}

// New returns a Hedger, or an error naming the first invalid setting.
func New(cfg Config) (*Hedger, error) {
	switch {
	case cfg.Delay < 0 || cfg.Delay > time.Hour:
		return nil, fmt.Errorf("hedge: Config.Delay must be in [0, 1h], got %v", cfg.Delay)
	case cfg.MaxHedges < 1 || cfg.MaxHedges > 10:
		return nil, fmt.Errorf("hedge: Config.MaxHedges must be in [1, 10], got %d", cfg.MaxHedges)
	case !(cfg.Percentile >= 0 && cfg.Percentile <= 100):
		return nil, fmt.Errorf("hedge: Config.Percentile must be 0 (off) or in (0, 100], got %v", cfg.Percentile)
	case cfg.Window < 0 || cfg.Window > 100000:
		return nil, fmt.Errorf("hedge: Config.Window must be in [1, 100000], got %d", cfg.Window)
	case cfg.Percentile > 0 && cfg.Window == 0:
		return nil, fmt.Errorf("hedge: Config.Window must be in [1, 100000] when Percentile is set, got 0")
	}
	h := &Hedger{
		delay:         cfg.Delay,
		maxHedges:     cfg.MaxHedges,
		allIdempotent: cfg.AllIdempotent,
		onHedge:       cfg.OnHedge,
		clock:         clock.OrSystem(cfg.Clock),
	}
	h.systemClock = h.clock == clock.System
	if cfg.Percentile > 0 {
		h.latencies = newLatencies(cfg.Percentile, cfg.Window)
	}
	return h, nil
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
	if h.latencies != nil {
		if d, ok := h.latencies.percentile(); ok {
			return d
		}
	}
	return h.delay
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
func (h *Hedger) Do(ctx context.Context, op func(context.Context) error) error {
	if !h.allIdempotent && !IsIdempotent(ctx) {
		return op(ctx)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hedge: not attempted: %w", err)
	}
	return h.hedge(ctx, op)
}

// call is one hedged call. Its first attempt runs on the caller's goroutine;
// each hedge runs on the goroutine of the timer that started it, so a call
// whose first attempt answers in time starts no goroutine at all (on the
// system clock).
type call struct {
	h      *Hedger
	ctx    context.Context // every attempt's
	cancel context.CancelCauseFunc
	op     func(context.Context) error
	delay  time.Duration

	mu      sync.Mutex
	closed  bool // no more hedges may start
	started int  // attempts started, the first included
	timer   stopper
	results chan error // the hedges' outcomes, made when the first starts

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
		c.results = make(chan error, c.h.maxHedges)
	}
	results := c.results
	if attempt <= c.h.maxHedges {
		c.arm()
	}
	c.mu.Unlock()

	if c.h.onHedge != nil {
		c.h.onHedge(attempt, c.delay)
	}
	err := c.op(c.ctx)
	if err == nil {
		c.cancel(ErrLost) // the first attempt may be waiting on it
	}
	results <- err
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

func (h *Hedger) hedge(ctx context.Context, op func(context.Context) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c := &call{h: h, ctx: actx, cancel: cancel, op: op, delay: h.Delay(), started: 1}
	var began time.Time
	if h.latencies != nil {
		began = h.clock.Now()
	}
	c.mu.Lock()
	c.arm()
	c.mu.Unlock()

	firstErr := op(actx)
	// The first attempt lost if a hedge's success cancelled it; if it failed
	// on its own, its latency says nothing about how long a success takes.
	firstLost := firstErr != nil && context.Cause(actx) == ErrLost
	if firstErr == nil {
		c.close()
		cancel(ErrLost)
		c.running.Wait()
		h.observe(began)
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
				c.running.Wait()
				return failure(ctx, firstErr)
			}
			continue
		}
		select {
		case err := <-results:
			finished++
			if err == nil {
				c.close()
				c.running.Wait()
				if firstLost {
					h.observe(began)
				}
				return nil
			}
		case <-ctx.Done():
			c.close() // the attempts' context, under ctx, is done too
			c.running.Wait()
			return fmt.Errorf("hedge: %w", ctx.Err())
		}
	}
}

// observe records the first attempt's latency, for Percentile.
func (h *Hedger) observe(began time.Time) {
	if h.latencies != nil {
		h.latencies.record(h.clock.Now().Sub(began))
	}
}

// failure is what Do returns when every attempt failed.
func failure(ctx context.Context, firstErr error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hedge: %w (first attempt: %w)", err, firstErr)
	}
	return firstErr
}
