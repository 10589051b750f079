package saga

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Run takes over unfinished sagas of this orchestrator's definition whose
// lease has ended — left by a crashed or closed instance, this one included
// — and drives them to their end, up to Config.Concurrency at a time. It
// looks at once and then every Config.PollInterval, until ctx ends or the
// orchestrator is closed; then the sagas it drives stop at their next
// transition, and it returns ctx's error (ErrClosed after Close).
//
// Run several instances against one store for availability: each saga is
// driven by one of them at a time.
func (o *Orchestrator[T]) Run(ctx context.Context) error {
	if o.isClosed() {
		return ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(o.stop, cancel)()
	slots := make(chan struct{}, o.cfg.Concurrency)
	var driving sync.WaitGroup
	defer driving.Wait()
	for {
		_, more, err := o.claim(ctx, slots, &driving)
		if err != nil && ctx.Err() == nil {
			o.log.Warn("saga: claiming sagas to take over", "definition", o.def.Name, "err", err)
		}
		var wait error
		if more {
			wait = waitForSlot(ctx, slots)
		} else {
			wait = clock.Sleep(ctx, o.clk, o.cfg.PollInterval)
		}
		if wait != nil {
			if o.isClosed() {
				return ErrClosed
			}
			return wait
		}
	}
}

// Recover takes over every unfinished saga of this orchestrator's
// definition whose lease has ended and drives each to its end, up to
// Config.Concurrency at a time; it returns how many it took over once all
// of them are done. Call it after a restart when not calling Run (which
// does the same, and keeps doing it). Sagas whose lease has not ended yet —
// still held by a live instance, or by a dead one for up to LeaseDuration —
// are left alone.
func (o *Orchestrator[T]) Recover(ctx context.Context) (int, error) {
	if o.isClosed() {
		return 0, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(o.stop, cancel)()
	slots := make(chan struct{}, o.cfg.Concurrency)
	var driving sync.WaitGroup
	total := 0
	for {
		n, more, err := o.claim(ctx, slots, &driving)
		total += n
		if err != nil || !more {
			driving.Wait()
			switch {
			case err != nil && ctx.Err() == nil:
				return total, fmt.Errorf("saga: recovering: %w", err)
			case ctx.Err() != nil:
				if o.isClosed() {
					return total, ErrClosed
				}
				return total, ctx.Err()
			}
			return total, nil
		}
		if err := waitForSlot(ctx, slots); err != nil {
			driving.Wait()
			return total, err
		}
	}
}

// claim takes over as many sagas as slots has room for and drives each in
// a goroutine that holds a slot until it is done. It returns how many it
// took and whether the store may hold more (every free slot was filled).
func (o *Orchestrator[T]) claim(ctx context.Context, slots chan struct{}, driving *sync.WaitGroup) (n int, more bool, err error) {
	free := cap(slots) - len(slots)
	if free == 0 {
		return 0, true, nil
	}
	now := o.clk.Now()
	recs, err := o.store.Claim(ctx, o.def.Name, o.cfg.InstanceID, now, now.Add(o.cfg.LeaseDuration), free)
	if err != nil {
		return 0, false, err
	}
	for i, rec := range recs {
		e := &execution[T]{o: o, id: rec.ID, rec: rec, dirty: true}
		if !o.begin(e) {
			return i, false, ErrClosed // the claimed leases run out
		}
		slots <- struct{}{}
		driving.Add(1)
		go func() {
			defer driving.Done()
			defer func() { <-slots }()
			defer o.end(e)
			_ = e.drive(context.Background(), ctx)
		}()
	}
	return len(recs), len(recs) == free, nil
}

// waitForSlot returns once slots has room, or ctx's error.
func waitForSlot(ctx context.Context, slots chan struct{}) error {
	select {
	case slots <- struct{}{}:
		<-slots
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// heartbeat renews, every LeaseDuration/3, the leases of the sagas this
// orchestrator drives whose lease is more than a third gone (a saga whose
// steps are quick extends its lease with every transition instead).
func (o *Orchestrator[T]) heartbeat() {
	defer o.wg.Done()
	interval := o.cfg.LeaseDuration / 3
	for clock.Sleep(o.stop, o.clk, interval) == nil {
		o.renew(interval)
	}
}

func (o *Orchestrator[T]) renew(interval time.Duration) {
	now := o.clk.Now()
	due := now.Add(o.cfg.LeaseDuration - interval).UnixNano()
	var ids []string
	var renewing []*execution[T]
	o.mu.Lock()
	for e := range o.active {
		if e.lease.Load() < due {
			ids = append(ids, e.id)
			renewing = append(renewing, e)
		}
	}
	o.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	until := now.Add(o.cfg.LeaseDuration)
	if err := o.store.Renew(o.stop, o.cfg.InstanceID, ids, until); err != nil {
		if o.stop.Err() == nil {
			o.log.Warn("saga: renewing leases", "definition", o.def.Name, "sagas", len(ids), "err", err)
		}
		return
	}
	for _, e := range renewing {
		for {
			old := e.lease.Load()
			if old >= until.UnixNano() || e.lease.CompareAndSwap(old, until.UnixNano()) {
				break
			}
		}
	}
}

// backoff returns the wait after the failures-th failed try: RetryDelay
// doubled per earlier failure, at most MaxRetryDelay, less up to half.
func (o *Orchestrator[T]) backoff(failures int) time.Duration {
	d := o.cfg.RetryDelay
	for i := 1; i < failures && d < o.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, o.cfg.MaxRetryDelay)
	return d - rand.N(d/2+1)
}
