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
	rule      Rule
	interval  int64 // > 0 once made by New
	tolerance int64
	maxWait   time.Duration
	clock     clockBase
	name      string
	obs       bulwark.Observer

	// tat is the TokenBucket state, in Unix nanoseconds, on a cache
	// line of its own: every permitted call writes it.
	_   [64]byte
	tat atomic.Int64
	_   [56]byte

	mu  sync.Mutex // guards win, the SlidingWindow state
	win window
}

// New returns a Limiter, or an error naming the first invalid field of cfg.
// Zero fields of cfg take their defaults.
func New(cfg Config) (*Limiter, error) {
	cfg = cfg.withDefaults()
	r, err := cfg.rule("ratelimit: Config")
	if err != nil {
		return nil, err
	}
	return &Limiter{
		rule:      r,
		interval:  r.interval(),
		tolerance: r.tolerance(),
		maxWait:   cfg.MaxWait,
		clock:     newClockBase(cfg.Clock),
		name:      cfg.Name,
		obs:       cfg.Observer,
	}, nil
}

// Rule returns the limit the Limiter applies.
func (l *Limiter) Rule() Rule {
	if l.interval == 0 {
		panic("ratelimit: Limiter used without New")
	}
	return l.rule
}

// Allow takes a permit for one call now, or returns a *LimitedError
// (matching ErrLimited and bulwark.ErrRejected) saying when to retry. It
// never waits.
func (l *Limiter) Allow() error {
	if d := l.take(); d > 0 {
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
	d := l.take()
	if d == 0 {
		return nil
	}
	return l.wait(ctx, d)
}

// Do runs op if the limit permits a call: at once with Allow in reject mode
// (MaxWait 0), after Wait otherwise. It returns the rejection without
// running op, or op's error.
func (l *Limiter) Do(ctx context.Context, op func(context.Context) error) error {
	var err error
	if l.maxWait == 0 {
		if d := l.take(); d > 0 {
			err = l.reject(ctx, d)
		}
	} else {
		err = l.Wait(ctx)
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
func (l *Limiter) take() int64 {
	if l.interval == 0 {
		panic("ratelimit: Limiter used without New")
	}
	if l.rule.Algorithm == SlidingWindow {
		now := l.now()
		l.mu.Lock()
		d := l.win.take(now, int64(l.rule.Period), int64(l.rule.Limit))
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
		newTat, d := takeToken(tat, now, l.interval, l.tolerance)
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

func (l *Limiter) wait(ctx context.Context, d int64) error {
	deadline := l.now() + int64(l.maxWait)
	return waitLoop(ctx, l.clock.clock, d, l.now, deadline, l.take, func(d int64) error { return l.reject(ctx, d) })
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
