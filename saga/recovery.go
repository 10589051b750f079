package saga

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Run takes over unfinished sagas of this orchestrator's definition whose
// lease has ended — left by a crashed or closed instance, this one included
// — and drives them to their end, up to Config.Concurrency at a time. It
// looks at once and then every Config.PollInterval.
//
// Run blocks until ctx ends or Close is called. When ctx ends, the sagas it
// drives have their invocations cancelled and stop (see Stopped), and Run
// returns ctx's error, wrapped, once they have. After Close it lets them
// reach their next transition (see Close) and returns nil. A Run called
// while another Run of this orchestrator is running returns
// bulwark.ErrRunning; one called after Close returns bulwark.ErrClosed.
//
// Run several instances against one store for availability: each saga is
// driven by one of them at a time.
func (o *Orchestrator[T]) Run(ctx context.Context) error {
	o.check()
	o.mu.Lock()
	switch {
	case o.closed:
		o.mu.Unlock()
		return bulwark.ErrClosed
	case o.running:
		o.mu.Unlock()
		return bulwark.ErrRunning
	}
	o.running = true
	o.busy++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.running = false
		o.done()
	}()

	look, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(o.drain, stop)()
	slots := make(chan struct{}, o.cfg.Concurrency)
	var driving sync.WaitGroup
	for {
		_, more, err := o.claim(look, ctx, slots, &driving)
		if err != nil && look.Err() == nil {
			o.log.Warn("saga: claiming sagas to take over", "definition", o.def.Name, "error", err)
		}
		var wait error
		if more {
			wait = waitForSlot(look, slots)
		} else {
			wait = clock.Sleep(look, o.clk, o.cfg.PollInterval)
		}
		if wait != nil {
			driving.Wait()
			if o.drain.Err() != nil {
				return nil
			}
			return fmt.Errorf("saga: Run: %w", ctx.Err())
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
//
// When ctx ends, the sagas it drives stop as under Run, and Recover returns
// ctx's error, wrapped. Close stops it too; it then returns an error
// matching bulwark.ErrClosed, as it does when called after Close.
func (o *Orchestrator[T]) Recover(ctx context.Context) (int, error) {
	o.check()
	if o.isClosed() {
		return 0, fmt.Errorf("saga: Recover: %w", bulwark.ErrClosed)
	}
	look, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(o.drain, stop)()
	slots := make(chan struct{}, o.cfg.Concurrency)
	var driving sync.WaitGroup
	total := 0
	for {
		n, more, err := o.claim(look, ctx, slots, &driving)
		total += n
		if err == nil && more {
			err = waitForSlot(look, slots)
			if err == nil {
				continue
			}
		}
		driving.Wait()
		switch {
		case ctx.Err() != nil:
			return total, fmt.Errorf("saga: Recover: %w", ctx.Err())
		case o.drain.Err() != nil:
			return total, fmt.Errorf("saga: Recover: %w", bulwark.ErrClosed)
		case err != nil:
			return total, fmt.Errorf("saga: recovering: %w", err)
		}
		return total, nil
	}
}

// claim takes over as many sagas as slots has room for and drives each in
// a goroutine that holds a slot until it is done, with parent as the
// parent of its context. It returns how many it took and whether the store
// may hold more (every free slot was filled).
func (o *Orchestrator[T]) claim(look, parent context.Context, slots chan struct{}, driving *sync.WaitGroup) (n int, more bool, err error) {
	free := cap(slots) - len(slots)
	if free == 0 {
		return 0, true, nil
	}
	now := o.clk.Now()
	recs, err := o.store.Claim(look, o.def.Name, o.cfg.InstanceID, now, now.Add(o.cfg.LeaseDuration), free)
	if err != nil {
		return 0, false, err
	}
	if len(recs) > free {
		return 0, false, fmt.Errorf("the store's Claim returned %d sagas for a limit of %d (its leases run out unused)", len(recs), free)
	}
	for i, rec := range recs {
		e := &execution[T]{o: o, id: rec.ID, rec: rec, dirty: true}
		if !o.begin(e) {
			return i, false, bulwark.ErrClosed // the claimed leases run out
		}
		slots <- struct{}{}
		driving.Add(1)
		go func() {
			defer driving.Done()
			defer func() { <-slots }()
			defer o.end(e)
			observe(o.obs, parent, TakenOver{Orchestrator: o.cfg.Name, SagaID: rec.ID, Status: rec.Status, Step: o.stepName(rec.Step)})
			_ = e.drive(context.Background(), parent)
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
// steps are quick extends its lease with every transition instead). begin
// starts it, with its first timer t, when a saga starts and it does not
// run. It ends at a renewal time when no saga is driven, so that a
// process running one saga after another keeps one heartbeat; once closed,
// as soon as no saga is driven; and when a Close gives up waiting, so that
// the leases of the sagas cut short run out.
func (o *Orchestrator[T]) heartbeat(t clock.Timer) {
	interval := o.cfg.LeaseDuration / 3
	for {
		var quit bool
		select {
		case <-t.C():
			o.renew(interval)
			o.mu.Lock()
			if quit = len(o.active) == 0; !quit {
				t = o.clk.NewTimer(interval)
			}
		case <-o.wake:
			o.mu.Lock()
			quit = o.closed && len(o.active) == 0
		case <-o.kill.Done():
			o.mu.Lock()
			quit = true
		}
		if quit {
			// Under the same lock as the decision, so that a saga begun
			// meanwhile starts a heartbeat of its own.
			t.Stop()
			o.beating = false
			o.done()
		}
		o.mu.Unlock()
		if quit {
			return
		}
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
	if err := o.store.Renew(o.kill, o.cfg.InstanceID, ids, until); err != nil {
		if o.kill.Err() == nil {
			o.log.Warn("saga: renewing leases", "definition", o.def.Name, "sagas", len(ids), "error", err)
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
