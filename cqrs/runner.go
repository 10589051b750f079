package cqrs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
)

// Reasons a projection's run stops, checked inside its transactions.
var (
	errLeaseLost     = errors.New("cqrs: the projection's lease is held by another projector")
	errMoved         = errors.New("cqrs: the projection's checkpoint was moved by an operator")
	errParkedHere    = errors.New("cqrs: the projection is parked")
	errHeldElsewhere = errors.New("cqrs: the projection's lease is taken")
	errStopping      = errors.New("cqrs: the projector is closing")
)

// releaseTimeout bounds giving up a lease on the way out.
const releaseTimeout = 5 * time.Second

// runner runs one projection: it takes its lease, runs its subscription
// while it holds it, and keeps the state WaitFor and Status read.
type runner[Tx any] struct {
	p     *Projector[Tx]
	proj  Projection[Tx]
	types map[string]struct{} // nil: every type
	wake  chan struct{}       // an operator action here: read the checkpoint now
	buf   []eventsource.Event // the page's events of proj.Types; subscription goroutine only

	// committed is the checkpoint as of the last commit of the running
	// subscription (written by it alone).
	committed atomic.Int64

	mu      sync.Mutex
	held    bool // this projector holds the lease
	stale   bool // an operator here changed the checkpoint; hold has not read it yet
	live    bool
	retired bool // a greater version is live: the projection is not run
	failed  Failure
}

// run takes the lease whenever it is free and runs the projection while it
// holds it, until ctx is done or the projector is closed.
func (r *runner[Tx]) run(ctx context.Context) {
	var (
		failures int
		prev     time.Duration // the last wait after a failure
	)
	for {
		select {
		case <-r.p.stopping():
			return
		default:
		}
		cp, held, err := r.claim(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := r.p.renewEvery
		switch {
		case err != nil:
			failures++
			wait = r.p.backoff(failures, prev)
			prev = wait
			r.p.log.WarnContext(ctx, "cqrs: taking a projection's lease failed", "projection", r.proj.Name, "version", r.proj.Version, "retry_in", wait, "error", err)
		case held:
			failures, prev = 0, 0
			r.hold(ctx, cp)
			continue
		default:
			failures, prev = 0, 0
		}
		if !r.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits for d or an operator action here, and reports true; or false
// when ctx ends or the projector is closed first.
func (r *runner[Tx]) sleep(ctx context.Context, d time.Duration) bool {
	t := r.p.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-r.wake:
	case <-ctx.Done():
		return false
	case <-r.p.stopping():
		return false
	}
	return true
}

// claim takes the lease if it is free, has ended or is already ours, unless
// a greater version of the projection is live.
func (r *runner[Tx]) claim(ctx context.Context) (Checkpoint, bool, error) {
	cps, err := r.p.checkpoints.List(ctx)
	if err != nil {
		return Checkpoint{}, false, err
	}
	if live, ok := greatestLive(cps, r.proj.Name); ok && live.Version > r.proj.Version {
		r.setRetired(live.Version)
		return Checkpoint{}, false, nil
	}
	r.setRetired(-1)
	now, me := r.p.clock.Now(), r.p.cfg.InstanceID
	var got Checkpoint
	err = r.p.checkpoints.Update(ctx, r.proj.Name, r.proj.Version, func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if cp.Owner != "" && cp.Owner != me && now.Before(cp.LeaseUntil) {
			return errHeldElsewhere
		}
		cp.Owner, cp.LeaseUntil, cp.UpdatedAt = me, now.Add(r.p.cfg.LeaseDuration), now
		got = *cp
		return nil
	})
	switch {
	case errors.Is(err, errHeldElsewhere):
		return Checkpoint{}, false, nil
	case err != nil:
		return Checkpoint{}, false, err
	}
	return got, true, nil
}

// renew extends the lease and returns the checkpoint as stored. It fails
// with errLeaseLost when another projector holds the lease, and with
// errMoved when an operator moved the checkpoint back behind the running
// subscription (Rebuild).
func (r *runner[Tx]) renew(ctx context.Context, running bool) (Checkpoint, error) {
	now, me := r.p.clock.Now(), r.p.cfg.InstanceID
	var got Checkpoint
	moved := false
	err := r.p.checkpoints.Update(ctx, r.proj.Name, r.proj.Version, func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if cp.Owner != me {
			return errLeaseLost
		}
		// Under the checkpoint's lock no batch commits, so the store is
		// behind what the subscription committed only if moved back.
		moved = running && cp.Position < r.committed.Load()
		cp.LeaseUntil, cp.UpdatedAt = now.Add(r.p.cfg.LeaseDuration), now
		got = *cp
		return nil
	})
	if err == nil && moved {
		return got, errMoved
	}
	return got, err
}

// release gives the lease up, if this projector still holds it.
func (r *runner[Tx]) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	now, me := r.p.clock.Now(), r.p.cfg.InstanceID
	err := r.p.checkpoints.Update(ctx, r.proj.Name, r.proj.Version, func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if cp.Owner != me {
			return errLeaseLost
		}
		cp.Owner, cp.LeaseUntil, cp.UpdatedAt = "", time.Time{}, now
		return nil
	})
	if err != nil && !errors.Is(err, errLeaseLost) {
		r.p.log.Warn("cqrs: giving up a projection's lease failed; it ends on its own", "projection", r.proj.Name, "version", r.proj.Version, "error", err)
	}
}

// subscription is a running read of the log from position from.
type subscription struct {
	from   int64
	sub    *eventsource.Subscription // nil if it could not be made
	cancel context.CancelFunc
	done   chan error
}

// stop cancels the subscription: a batch in flight rolls back.
func (s *subscription) stop() {
	s.cancel()
	<-s.done
}

// close lets the batch in flight commit (or roll back, if ctx ends first),
// then stops the subscription.
func (s *subscription) close(ctx context.Context) {
	if s.sub != nil {
		_ = s.sub.Close(ctx)
	}
	s.stop()
}

// start runs the projection's subscription from position from.
func (r *runner[Tx]) start(ctx context.Context, from int64) *subscription {
	ctx, cancel := context.WithCancel(ctx)
	s := &subscription{from: from, cancel: cancel, done: make(chan error, 1)}
	r.committed.Store(from)
	sub, err := eventsource.NewBatchSubscription(r.p.events, r.applyPage, eventsource.SubscriptionConfig{
		Name:         r.proj.Name,
		Checkpoint:   from,
		PageSize:     r.p.cfg.BatchSize,
		PollInterval: r.p.cfg.PollInterval,
		Backoff:      r.p.cfg.Backoff,
		MaxDelay:     r.p.cfg.MaxDelay,
		Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			if c, ok := e.(eventsource.CaughtUp); ok {
				r.caughtUp(ctx, c.Position)
			}
		}),
		Clock:  r.p.clock,
		Logger: r.p.log,
	})
	if err != nil { // the configuration was validated: only a bug gets here
		s.done <- err
		return s
	}
	s.sub = sub
	go func() { s.done <- sub.Run(ctx) }()
	return s
}

// hold runs the projection while this projector holds its lease: it keeps
// the subscription running (restarting it after failures, with backoff),
// renews the lease, and follows what operators do to the checkpoint. It
// returns when the lease is lost or the projection retired, or, having
// given the lease up, when ctx is done.
func (r *runner[Tx]) hold(ctx context.Context, cp Checkpoint) {
	r.p.log.Info("cqrs: running projection", "projection", r.proj.Name, "version", r.proj.Version, "instance", r.p.cfg.InstanceID, "position", cp.Position)
	r.setHeld(cp)
	defer r.setNotHeld()
	var (
		sub      *subscription
		failures int
		prev     time.Duration // the last wait after a failure
		retry    clock.Timer   // set while waiting to restart after a failure
	)
	stop := func() {
		if sub != nil {
			sub.stop()
			sub = nil
		}
	}
	defer stop()
	renewal := r.p.clock.NewTimer(r.p.renewEvery)
	defer func() { renewal.Stop() }()
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		if sub == nil && retry == nil && !cp.Parked() && !r.isRetired() {
			sub = r.start(ctx, cp.Position)
		}
		var subDone <-chan error
		if sub != nil {
			subDone = sub.done
		}
		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C()
		}
		select {
		case <-ctx.Done():
			stop()
			r.release(ctx)
			return
		case <-r.p.stopping():
			if sub != nil {
				sub.close(ctx)
				sub = nil
			}
			r.release(ctx)
			return
		case err := <-subDone:
			progressed := r.committed.Load() != sub.from
			sub.cancel()
			sub = nil
			switch {
			case errors.Is(err, errParkedHere), errors.Is(err, errMoved):
				// Parked, or moved by an operator: read the checkpoint
				// (an operator may have resumed it already).
			case errors.Is(err, errLeaseLost):
				r.lostLease()
				return
			case errors.Is(err, errStopping): // the projector is closing
				r.release(ctx)
				return
			default:
				if progressed {
					failures, prev = 0, 0
				}
				failures++
				wait := r.p.backoff(failures, prev)
				prev = wait
				r.p.log.Warn("cqrs: projection stopped by a store failure; restarting", "projection", r.proj.Name, "version", r.proj.Version, "retry_in", wait, "error", err)
				retry = r.p.clock.NewTimer(wait)
				continue
			}
		case <-retryC:
			retry = nil
		case <-renewal.C():
			renewal = r.p.clock.NewTimer(r.p.renewEvery)
		case <-r.wake:
		}
		if r.isRetired() {
			stop()
			r.release(ctx)
			return
		}
		next, err := r.renew(ctx, sub != nil)
		switch {
		case errors.Is(err, errLeaseLost):
			stop()
			r.lostLease()
			return
		case errors.Is(err, errMoved):
			stop()
		case err != nil:
			if ctx.Err() != nil {
				continue
			}
			r.p.log.Warn("cqrs: renewing a projection's lease failed", "projection", r.proj.Name, "version", r.proj.Version, "error", err)
			if sub == nil && retry == nil { // read the checkpoint again before restarting
				failures++
				prev = r.p.backoff(failures, prev)
				retry = r.p.clock.NewTimer(prev)
			}
			continue
		}
		if sub != nil && next.Parked() {
			stop()
		}
		cp = next
		r.setState(cp, sub != nil)
	}
}

// lostLease records and reports that another projector took the lease.
func (r *runner[Tx]) lostLease() {
	r.setNotHeld()
	r.p.log.Warn("cqrs: lost a projection's lease to another projector", "projection", r.proj.Name, "version", r.proj.Version, "instance", r.p.cfg.InstanceID)
}

// caughtUp runs when the subscription has applied everything readable: a
// version that is not live yet becomes live.
func (r *runner[Tx]) caughtUp(ctx context.Context, pos int64) {
	if !r.isLive() {
		r.promote(ctx)
	}
	r.p.observe(ctx, CaughtUp{Name: r.p.cfg.Name, Projection: r.proj.Name, Version: r.proj.Version, Position: pos})
}

// promote makes this version live, unless a greater one is.
func (r *runner[Tx]) promote(ctx context.Context) {
	cps, err := r.p.checkpoints.List(ctx)
	if err != nil {
		r.p.log.Warn("cqrs: reading checkpoints to make a projection live failed; trying when it next catches up", "projection", r.proj.Name, "version", r.proj.Version, "error", err)
		return
	}
	from := -1
	if live, ok := greatestLive(cps, r.proj.Name); ok {
		if live.Version > r.proj.Version {
			r.setRetired(live.Version)
			r.signal()
			return
		}
		from = live.Version
	}
	now, me := r.p.clock.Now(), r.p.cfg.InstanceID
	err = r.p.checkpoints.Update(ctx, r.proj.Name, r.proj.Version, func(_ context.Context, _ Tx, cp *Checkpoint) error {
		if cp.Owner != me {
			return errLeaseLost
		}
		cp.Live, cp.UpdatedAt = true, now
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			r.p.log.Warn("cqrs: making a projection live failed; trying when it next catches up", "projection", r.proj.Name, "version", r.proj.Version, "error", err)
		}
		return
	}
	r.mu.Lock()
	r.live = true
	r.mu.Unlock()
	r.p.notify()
	if from != r.proj.Version {
		r.p.log.Info("cqrs: projection version is live", "projection", r.proj.Name, "version", r.proj.Version, "replaces", from)
		r.p.observe(ctx, Switched{Name: r.p.cfg.Name, Projection: r.proj.Name, From: from, To: r.proj.Version})
	}
}

// signal asks hold (or the waiting run) to read the checkpoint now.
func (r *runner[Tx]) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner[Tx]) setHeld(cp Checkpoint) {
	r.mu.Lock()
	r.held = true
	r.mu.Unlock()
	r.setState(cp, false)
}

func (r *runner[Tx]) setNotHeld() {
	r.mu.Lock()
	r.held = false
	r.mu.Unlock()
	r.p.notify()
}

// setState records the checkpoint as stored; its position too unless a
// subscription is running (which keeps committed up to date itself).
func (r *runner[Tx]) setState(cp Checkpoint, running bool) {
	r.mu.Lock()
	r.live, r.failed, r.stale = cp.Live, cp.Failed, false
	if !running {
		r.committed.Store(cp.Position)
	}
	r.mu.Unlock()
	r.p.notify()
}

// setRetired records that version by is live and greater than this one,
// or (by = -1) that none is.
func (r *runner[Tx]) setRetired(by int) {
	r.mu.Lock()
	was := r.retired
	r.retired = by >= 0
	r.mu.Unlock()
	if !was && by >= 0 {
		r.p.log.Info("cqrs: a newer version of the projection is live; not running this one", "projection", r.proj.Name, "version", r.proj.Version, "live", by)
	}
}

func (r *runner[Tx]) holding() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

func (r *runner[Tx]) isRetired() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retired
}

func (r *runner[Tx]) isLive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live
}

// markStale records that an operator here changed the checkpoint, so that
// what this projector knows first hand is not used until hold reads it.
func (r *runner[Tx]) markStale() {
	r.mu.Lock()
	r.stale = true
	r.mu.Unlock()
	r.signal()
}

// local is what this projector knows of the projection first hand (held is
// false while it is out of date).
type local struct {
	held, live bool
	position   int64
	failed     Failure
}

func (r *runner[Tx]) local() local {
	r.mu.Lock()
	defer r.mu.Unlock()
	return local{held: r.held && !r.stale, live: r.live, position: r.committed.Load(), failed: r.failed}
}
