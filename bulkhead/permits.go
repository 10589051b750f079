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
// It keeps two words, each on cache lines of its own:
//   - state: the permits in use in the low 32 bits, the waiters in the high
//     32, written by every acquire and release;
//   - gate: the limit, and fullBit, a hint that the last caller to look
//     found no permit free. Every acquire reads it; it is written only when
//     the limit changes, or as the bulkhead fills and drains.
//
// Taking a permit while the gate is clear is one atomic add on state, with
// no load of state before it: a load first would fetch the contended line
// shared and the add then fetch it again for ownership, two coherence
// transactions per acquire where one will do (a cost some CPUs, Intel's
// among them, charge much more than others). The count after the add says
// whether a permit was free: at most the limit exactly when one was and
// nobody waits (any waiter puts the word above every limit). A caller that
// finds none gives its count back through release and sets fullBit; while
// it is set, callers first load state and are refused without a write
// while the bulkhead is full, so that a bulkhead shedding load does not
// make every rejection write the line its releases need. Meanwhile permits
// are taken with a load and a compare-and-swap, and the first caller that
// leaves room behind it clears the mark (releases never touch the gate).
// fullBit is only a hint: a stale one costs a caller a load.
//
// Returning a permit is one atomic add. (An add, unlike a compare-and-swap,
// never retries when another core moved the word first.) Waiting goes
// through mu, which guards the line; the lock-free paths stay safe beside
// it because:
//   - the waiter count changes only under mu, and equals the line's length
//     whenever mu is free;
//   - nobody takes a permit without the lock while anyone waits, so waiters
//     are served in order;
//   - whoever frees a permit (a release, a raised limit) while anyone waits
//     then takes mu and hands free permits to the line, so a permit never
//     stays free while someone waits for it.
//
// A caller whose add finds no permit gives its count back through release,
// which also hands a permit to any waiter that this caller's passing count
// made queue (or made a release skip). So no more than the limit is ever in
// use and no permit is lost; the one cost is that for the nanoseconds
// between such a caller's add and its give-back, another caller racing
// with it at the limit may be turned away although a permit had just come
// back.
type permits struct {
	_     [cacheLines]byte
	state atomic.Uint64
	_     [cacheLines - 8]byte
	gate  atomic.Uint64

	maxWaiting atomic.Uint64
	_          [cacheLines - 16]byte

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
	fullBit   = 1 << 63
	// cacheLines is the span a contended word keeps to itself: two 64-byte
	// lines, as Intel's adjacent-line prefetcher fetches lines in pairs.
	cacheLines = 128
)

func (p *permits) init(limit, maxWaiting int) {
	p.gate.Store(uint64(limit))
	p.maxWaiting.Store(uint64(maxWaiting))
	p.line.prev, p.line.next = &p.line, &p.line
}

// tryAcquire takes a permit if one is free and nobody waits.
func (p *permits) tryAcquire() bool {
	g := p.gate.Load()
	if g&fullBit != 0 {
		return p.tryAcquireFull(g &^ fullBit)
	}
	if p.state.Add(1) <= g {
		return true
	}
	p.refuse(g)
	return false
}

// refuse gives back the count of a caller that found no permit free under
// gate g, and marks the bulkhead full.
func (p *permits) refuse(g uint64) {
	if g == 0 {
		panic(unmade) // a limit of 0: a Bulkhead not made by New
	}
	p.release()
	p.setFull(true)
}

// tryAcquireFull is tryAcquire while fullBit is set: it looks before it
// writes, and clears the hint when it finds the bulkhead no longer full.
func (p *permits) tryAcquireFull(limit uint64) bool {
	for {
		s := p.state.Load()
		if s >= limit {
			return false // full, or someone waits: refused without a write
		}
		if p.state.CompareAndSwap(s, s+1) {
			if s+1 < limit {
				p.setFull(false)
			}
			return true
		}
	}
}

// setFull sets or clears fullBit, keeping the limit.
func (p *permits) setFull(full bool) {
	for {
		g := p.gate.Load()
		ng := g &^ fullBit
		if full {
			ng |= fullBit
		}
		if g == ng || p.gate.CompareAndSwap(g, ng) {
			return
		}
	}
}

// release returns a permit, and returns how many were in use before it.
// While anyone waits, it then hands a permit to the first waiter if the
// limit allows. It leaves fullBit alone: the next caller to find room
// clears it, so that a release stays one atomic add.
func (p *permits) release() (inUse int) {
	s := p.state.Add(^uint64(0))
	if s>>32 != 0 {
		p.releaseSlow(s)
	}
	return int(s&inUseMask) + 1
}

// releaseSlow is release after its add left state s with waiters, or with
// an underflow (which borrows into the waiter count).
func (p *permits) releaseSlow(s uint64) {
	if s&inUseMask == inUseMask {
		p.state.Add(1)
		panic("bulkhead: permit released more times than acquired")
	}
	p.mu.Lock()
	p.grantWhileFree()
	p.mu.Unlock()
}

// limit returns the current limit.
func (p *permits) limit() uint64 { return p.gate.Load() &^ fullBit }

// grantWhileFree hands free permits to waiters, first come first served,
// until either runs out. The caller holds mu.
func (p *permits) grantWhileFree() {
	for {
		s := p.state.Load()
		if s>>32 == 0 || s&inUseMask >= p.limit() {
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
		if s>>32 == 0 && s&inUseMask < p.limit() {
			if p.state.CompareAndSwap(s, s+1) {
				p.mu.Unlock()
				return nil
			}
			continue
		}
		if s>>32 >= p.maxWaiting.Load() {
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
	p.gate.Store(uint64(limit)) // clears fullBit: a hint, which the next caller corrects
	p.grantWhileFree()
	p.mu.Unlock()
}

func (p *permits) inUse() int   { return int(p.state.Load() & inUseMask) }
func (p *permits) waiting() int { return int(p.state.Load() >> 32) }

func (w *waiter) unlink() {
	w.prev.next, w.next.prev = w.next, w.prev
}
