package bulkhead

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Bulkhead bounds the calls that run at once, so that one slow dependency
// cannot take every goroutine, connection or thread of its callers. It is
// safe for concurrent use; make one with New (the zero Bulkhead is not
// usable: its methods panic). While nobody waits, a fixed bulkhead's
// permit costs one atomic add to take and one to return, with no lock, no
// clock read and no allocation; a bulkhead that has found itself full turns
// a call away after two loads, without a write.
type Bulkhead struct {
	sem     permits
	key     string
	maxWait atomic.Int64 // a time.Duration
	cfg     Config       // New's, zero fields spelled out; guarded by sem.mu after New
	clock   clock.Clock
	name    string
	obs     bulwark.Observer

	// Adaptive limits only.
	adapt      sync.Mutex // serialises est and the limit changes it makes
	est        estimator
	base       time.Time
	system     bool // clock is clock.System: read with time.Since, half of time.Now's cost
	overloaded func(error) bool
}

// Permit is one admission to a Bulkhead, returned by TryAcquire and
// Acquire. Release it exactly once, when the call it admitted is over.
type Permit struct {
	b     *Bulkhead
	start int64 // when it was taken, in nanoseconds since b.base (Adaptive only)
}

// unmade is the panic of a method called on a Bulkhead not made by New.
const unmade = "bulkhead: Bulkhead used without New"

// New returns a Bulkhead, or an error naming the first invalid field of cfg.
// Zero fields of cfg take their defaults.
func New(cfg Config) (*Bulkhead, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate("bulkhead: Config"); err != nil {
		return nil, err
	}
	return newBulkhead(cfg, ""), nil
}

// newBulkhead builds a bulkhead from a validated cfg.
func newBulkhead(cfg Config, key string) *Bulkhead {
	b := &Bulkhead{key: key, cfg: cfg, clock: clock.OrSystem(cfg.Clock), name: cfg.Name, obs: cfg.Observer}
	b.maxWait.Store(int64(cfg.MaxWait))
	limit := cfg.MaxConcurrent
	if cfg.Adaptive != nil {
		b.est = cfg.Adaptive.newEstimator(cfg.MaxConcurrent)
		b.base = b.clock.Now()
		b.system = b.clock == clock.System
		b.overloaded = cfg.Overloaded
		if b.overloaded == nil {
			b.overloaded = isDeadlineExceeded
		}
		limit = b.est.limit()
	}
	b.sem.init(limit, cfg.MaxWaiting)
	return b
}

func isDeadlineExceeded(err error) bool { return errors.Is(err, context.DeadlineExceeded) }

// Do runs op with a permit, and returns op's error, or the error that kept
// op from running: ErrFull (errors.Is; it matches bulwark.ErrRejected too)
// when the bulkhead is full, or ctx's error, wrapped, when ctx ends the
// wait for a permit. The permit is released exactly once when op returns or
// panics (the panic goes on up).
func (b *Bulkhead) Do(ctx context.Context, op func(context.Context) error) error {
	if b.est == nil {
		// A fixed limit learns nothing from the call: take, run, return.
		if !b.sem.tryAcquire() {
			if b.sem.maxWaiting.Load() == 0 {
				return b.full(ctx, ErrFull)
			}
			if err := b.wait(ctx); err != nil {
				return err
			}
		}
		defer b.sem.release()
		return op(ctx)
	}
	p, err := b.Acquire(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			p.release(ctx, nil, true)
		}
	}()
	err = op(ctx)
	finished = true
	p.release(ctx, err, false)
	return err
}

// TryAcquire takes a permit if one is free now and nobody is waiting for
// one, without blocking; ok is false otherwise (and no Rejected event is
// reported).
func (b *Bulkhead) TryAcquire() (p Permit, ok bool) {
	if !b.sem.tryAcquire() {
		return Permit{}, false
	}
	return b.permit(), true
}

// Acquire takes a permit, waiting for one as Config allows. It returns
// ErrFull (errors.Is) when the bulkhead is full and the call may not wait
// (or waited MaxWait in vain), and ctx's error, wrapped, when ctx ends the
// wait.
func (b *Bulkhead) Acquire(ctx context.Context) (Permit, error) {
	if !b.sem.tryAcquire() {
		if b.sem.maxWaiting.Load() == 0 {
			return Permit{}, b.full(ctx, ErrFull)
		}
		if err := b.wait(ctx); err != nil {
			return Permit{}, err
		}
	}
	return b.permit(), nil
}

// wait takes a permit for a caller that found none free, waiting in line
// (which Config lets it join), or returns the error that refused it.
func (b *Bulkhead) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bulkhead: waiting for a permit: %w", err)
	}
	if err := b.sem.acquire(ctx, b.clock, time.Duration(b.maxWait.Load())); err != nil {
		if errors.Is(err, ErrFull) {
			return b.full(ctx, err)
		}
		return fmt.Errorf("bulkhead: waiting for a permit: %w", err)
	}
	return nil
}

// Release returns the permit. err is the outcome of the call it admitted
// (nil for success); an Adaptive limit learns from it, a fixed one ignores
// it. A LimitChanged event it causes is reported with
// context.Background(), Release having no context (through Do, it gets
// Do's). Releasing a permit twice corrupts the bulkhead's count; releasing
// more permits than were taken, or the zero Permit, panics.
func (p Permit) Release(err error) { p.release(context.Background(), err, false) }

// release returns the permit first, so that nothing the adaptive limit
// does afterwards (its observer included) can keep it. ctx is the context
// of the call, for the observer.
func (p Permit) release(ctx context.Context, err error, panicked bool) {
	b := p.b
	if b == nil {
		panic("bulkhead: Release of a Permit not acquired")
	}
	if b.est == nil {
		b.sem.release()
		return
	}
	inFlight := b.sem.release()
	b.observe(ctx, p.start, inFlight, err, panicked)
}

// Limit returns the current limit: MaxConcurrent for a fixed bulkhead.
func (b *Bulkhead) Limit() int { return int(b.made().sem.limit()) }

// InFlight returns the number of permits taken and not yet released.
func (b *Bulkhead) InFlight() int { return b.made().sem.inUse() }

// Waiting returns the number of callers waiting for a permit.
func (b *Bulkhead) Waiting() int { return b.made().sem.waiting() }

// made returns b, or panics if New did not make it.
func (b *Bulkhead) made() *Bulkhead {
	if b.sem.limit() == 0 {
		panic(unmade)
	}
	return b
}

func (b *Bulkhead) permit() Permit {
	if b.est == nil {
		return Permit{b: b}
	}
	return Permit{b: b, start: b.now()}
}

func (b *Bulkhead) now() int64 {
	if b.system {
		return int64(time.Since(b.base))
	}
	return int64(b.clock.Now().Sub(b.base))
}

// full reports a rejection, if anyone observes, and returns its error.
func (b *Bulkhead) full(ctx context.Context, err error) error {
	if b.obs != nil {
		b.reportFull(ctx, err)
	}
	return err
}

func (b *Bulkhead) reportFull(ctx context.Context, err error) {
	b.obs.Observe(ctx, Rejected{Name: b.name, Key: b.key, Limit: int(b.sem.limit()), Waited: err == errWaitedOut})
}

// observe feeds a finished call to the adaptive estimator and applies the
// limit it settles on.
func (b *Bulkhead) observe(ctx context.Context, start int64, inFlight int, err error, panicked bool) {
	s := sample{start: start, end: b.now(), inFlight: inFlight}
	switch {
	case panicked:
		s.ignored = true
	case err != nil:
		s.dropped = b.overloaded(err)
		s.ignored = !s.dropped
	}
	b.adapt.Lock()
	from := b.est.limit()
	to := b.est.observe(s)
	if to != from {
		b.sem.setLimit(to)
	}
	b.adapt.Unlock()
	if to != from && b.obs != nil {
		b.obs.Observe(ctx, LimitChanged{Name: b.name, Key: b.key, From: from, To: to})
	}
}
