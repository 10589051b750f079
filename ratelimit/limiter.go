package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Limiter is a rate limiter for one stream of calls (for a limit per client,
// tenant or route, see Keyed). It is safe for concurrent use; make one with
// New (the zero Limiter is not usable: its methods panic). With
// TokenBucket its hot path is lock-free: one clock read and one
// compare-and-swap, and no allocation when the call is permitted; a
// rejection allocates its *LimitedError.
type Limiter struct {
	limits atomic.Pointer[limits] // nil in a Limiter not made by New
	cfg    Config
	clock  clockBase
	name   string
	obs    bulwark.Observer

	// tat is the TokenBucket state, in Unix nanoseconds, on a cache
	// line of its own: every permitted call writes it.
	_   [64]byte
	tat atomic.Int64
	_   [56]byte

	mu  sync.Mutex // guards win, the SlidingWindow state, and Reconfigure
	win window
}

// limits are what Reconfigure changes: a call reads them once, when it
// starts, and keeps them to its end.
type limits struct {
	rule      Rule
	interval  int64
	tolerance int64
	maxWait   time.Duration
}

func newLimits(cfg Config) (*limits, error) {
	r, err := cfg.withDefaults().rule("ratelimit: Config")
	if err != nil {
		return nil, err
	}
	return &limits{rule: r, interval: r.interval(), tolerance: r.tolerance(), maxWait: cfg.MaxWait}, nil
}

// New returns a Limiter, or an error naming the first invalid field of cfg.
// Zero fields of cfg take their defaults.
func New(cfg Config) (*Limiter, error) {
	lim, err := newLimits(cfg)
	if err != nil {
		return nil, err
	}
	l := &Limiter{cfg: cfg.withDefaults(), clock: newClockBase(cfg.Clock), name: cfg.Name, obs: cfg.Observer}
	l.limits.Store(lim)
	return l, nil
}

// Rule returns the limit the Limiter applies.
func (l *Limiter) Rule() Rule { return l.load().rule }

// Reconfigure applies cfg's Algorithm, Limit, Period, Burst and MaxWait to
// the calls that start from now on (a call already waiting keeps the limits
// it started with), or returns an error naming the first invalid field of
// cfg and changes nothing. The state is kept where the new limits allow: with
// the same Algorithm, what was used stays used (a token bucket keeps the
// share of its burst used, as the time it needs to refill; a sliding window
// keeps its counts), so loosening a limit never hands out a fresh burst and
// tightening it takes effect at once; a new Algorithm starts empty. The collaborators
// given to New (Name, Observer, Clock) stay; cfg's are not read. Safe to
// call during calls.
func (l *Limiter) Reconfigure(cfg Config) error {
	old := l.load()
	lim, err := newLimits(cfg)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim.rule.Algorithm != old.rule.Algorithm {
		l.tat.Store(0)
		l.win = window{}
	}
	l.limits.Store(lim)
	return nil
}

// Settings returns the Config the Limiter runs with now: New's, with the
// limits of the last successful Reconfigure, zero fields spelled out.
func (l *Limiter) Settings() Config {
	lim := l.load()
	cfg := l.cfg
	cfg.Algorithm, cfg.Limit, cfg.Period, cfg.Burst = lim.rule.Algorithm, lim.rule.Limit, lim.rule.Period, lim.rule.Burst
	cfg.MaxWait = lim.maxWait
	return cfg
}

func (l *Limiter) load() *limits {
	lim := l.limits.Load()
	if lim == nil {
		panic("ratelimit: Limiter used without New")
	}
	return lim
}

// Allow takes a permit for one call now, or returns a *LimitedError
// (matching ErrLimited and bulwark.ErrRejected) saying when to retry. It
// never waits.
func (l *Limiter) Allow() error {
	if d := l.take(l.load()); d > 0 {
		return l.reject(context.Background(), d)
	}
	return nil
}

// Wait takes a permit for one call, waiting for it up to Config.MaxWait
// (not at all in reject mode, MaxWait 0). It returns a *LimitedError when the permit would come later than MaxWait or
// than ctx's deadline (at once, without waiting in vain), and ctx's error,
// wrapped, when ctx ends the wait.
//
// Waiting callers are not queued: each retries when the limiter says a
// permit will be free, so one that arrives later may get it first.
func (l *Limiter) Wait(ctx context.Context) error {
	lim := l.load()
	d := l.take(lim)
	if d == 0 {
		return nil
	}
	return l.wait(ctx, lim, d)
}

// Do runs op if the limit permits a call: at once with Allow in reject mode
// (MaxWait 0), after Wait otherwise. It returns the rejection without
// running op, or op's error.
func (l *Limiter) Do(ctx context.Context, op func(context.Context) error) error {
	lim := l.load()
	var err error
	if d := l.take(lim); d > 0 {
		if lim.maxWait == 0 {
			err = l.reject(ctx, d)
		} else {
			err = l.wait(ctx, lim, d)
		}
	}
	if err != nil {
		return err
	}
	return op(ctx)
}

func (l *Limiter) now() int64 { return l.clock.now() }

// take counts a call now or returns the wait until one would fit.
//
// The token bucket reads the clock once and retries a lost
// compare-and-swap with the same reading (still a true time for this call,
// just a little early, which only ever errs towards waiting). Before turning
// a call away it decides once more on a reading taken after loading the
// state: a goroutine descheduled between reading the clock and deciding
// would otherwise judge today's state by yesterday's time.
func (l *Limiter) take(lim *limits) int64 {
	if lim.rule.Algorithm == SlidingWindow {
		now := l.now()
		l.mu.Lock()
		d := l.win.take(now, int64(lim.rule.Period), int64(lim.rule.Limit))
		l.mu.Unlock()
		return d
	}
	now := l.now()
	fresh := false
	for {
		tat := l.tat.Load()
		if fresh {
			now = l.now()
		}
		newTat, d := takeToken(tat, now, lim.interval, lim.tolerance)
		if d > 0 {
			if fresh {
				return d
			}
			fresh = true
			continue
		}
		if l.tat.CompareAndSwap(tat, newTat) {
			return 0
		}
	}
}

func (l *Limiter) wait(ctx context.Context, lim *limits, d int64) error {
	deadline := l.now() + int64(lim.maxWait)
	return waitLoop(ctx, l.clock.clock, d, l.now, deadline, func() int64 { return l.take(lim) }, func(d int64) error { return l.reject(ctx, d) })
}

// reject reports a rejection and returns its error.
func (l *Limiter) reject(ctx context.Context, d int64) error {
	if l.obs != nil {
		l.obs.Observe(ctx, Rejected{Name: l.name, RetryAfter: time.Duration(d)})
	}
	return limited(d)
}

// waitLoop sleeps for each wait d the limit reports and tries again, until
// try permits the call (0), the next permit lies beyond deadline or ctx's
// deadline (reject), or ctx ends the wait. now and deadline are in the
// caller's time base; the first wait d has been reported already.
func waitLoop(ctx context.Context, c clock.Clock, d int64, now func() int64, deadline int64,
	try func() int64, reject func(d int64) error,
) error {
	for {
		t := now()
		if t+d > deadline {
			return reject(d)
		}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(c.Now()) < time.Duration(d) {
			return reject(d)
		}
		if err := clock.Sleep(ctx, c, time.Duration(d)); err != nil {
			return fmt.Errorf("ratelimit: waiting for a permit: %w", err)
		}
		if d = try(); d == 0 {
			return nil
		}
	}
}
