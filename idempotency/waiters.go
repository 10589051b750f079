package idempotency

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// waiters wakes the duplicates waiting in Start when an attempt of the same
// Keeper completes or releases their key, so a duplicate in the same
// process gets the outcome at once rather than at its next poll. Duplicates
// waiting on an attempt in another process still poll.
type waiters struct {
	n  atomic.Int64 // registered waits; settle does nothing while it is 0
	mu sync.Mutex
	m  map[Ref]*wake
}

// wake is closed when its key is settled; n counts the waits on it.
type wake struct {
	ch chan struct{}
	n  int
}

// watch registers a wait on ref. The caller reads the record after
// watching, so a settle that happens before the read is seen by the read
// and one after it closes the channel: no wake-up is lost.
func (w *waiters) watch(ref Ref) *wake {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[Ref]*wake{}
	}
	e := w.m[ref]
	if e == nil {
		e = &wake{ch: make(chan struct{})}
		w.m[ref] = e
	}
	e.n++
	w.n.Add(1)
	return e
}

// unwatch ends a wait that watch registered.
func (w *waiters) unwatch(ref Ref, e *wake) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.n--
	w.n.Add(-1)
	if e.n == 0 && w.m[ref] == e {
		delete(w.m, ref)
	}
}

// settle wakes every wait on ref. It costs an atomic load when nobody waits.
func (w *waiters) settle(ref Ref) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.m[ref]; e != nil {
		close(e.ch)
		delete(w.m, ref)
	}
}

// sleep waits for d on c, until e's key is settled, or until ctx is done;
// it returns ctx.Err() only in the last case.
func (e *wake) sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-e.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
