package circuitbreaker

import (
	"math"
	"sync/atomic"
)

// outcome is what one finished call contributes to a window: a success is 0.
type outcome uint8

const (
	outFailure outcome = 1 << iota
	outSlow
	outIgnored
)

// window is a sliding window of call outcomes. Its methods run under the
// breaker's lock; now is the breaker's clock in nanoseconds (see
// Breaker.now), which count windows ignore.
type window interface {
	add(o outcome, now int64)
	totals(now int64) (calls, failures, slow int)
	reset()
}

// countWindow holds the outcomes of the last len(ring) calls.
type countWindow struct {
	ring     []outcome
	next     int // slot the next outcome overwrites
	filled   int
	failures int
	slow     int
}

func newCountWindow(n int) *countWindow { return &countWindow{ring: make([]outcome, n)} }

func (w *countWindow) add(o outcome, _ int64) {
	if w.filled == len(w.ring) {
		old := w.ring[w.next]
		w.failures -= int(old & outFailure)
		w.slow -= int(old&outSlow) >> 1
	} else {
		w.filled++
	}
	w.ring[w.next] = o
	w.failures += int(o & outFailure)
	w.slow += int(o&outSlow) >> 1
	w.next++
	if w.next == len(w.ring) {
		w.next = 0
	}
}

func (w *countWindow) totals(int64) (calls, failures, slow int) {
	return w.filled, w.failures, w.slow
}

func (w *countWindow) reset() {
	clear(w.ring)
	w.next, w.filled, w.failures, w.slow = 0, 0, 0, 0
}

// timeWindow counts calls in len(buckets) buckets of width nanoseconds: the
// current one and those before it. Bucket e (time e*width up to
// (e+1)*width) lives in slot e % len(buckets).
//
// A quiet window still has to count successes (they are the denominator of
// the next failure's rate), so successes may be added without the lock by
// tryAdd; everything else runs under the breaker's lock.
type timeWindow struct {
	width   int64
	buckets []timeBucket
	head    int64 // newest bucket rotate has prepared; under the lock
}

type timeBucket struct {
	epoch    atomic.Int64 // which bucket this slot holds now
	calls    atomic.Int64 // every recorded call, lock-free for quiet successes
	failures int
	slow     int
}

func newTimeWindow(w Window) *timeWindow {
	tw := &timeWindow{
		width:   int64(w.duration) / int64(w.buckets),
		buckets: make([]timeBucket, w.buckets),
	}
	tw.reset()
	return tw
}

func (w *timeWindow) epoch(now int64) int64 { return max(now, 0) / w.width }

// tryAdd counts a quiet success without the lock when the current bucket is
// ready. It returns false when a new bucket must be prepared first (once per
// bucket width), which needs the lock.
//
// A success that read the epoch just before a rotation that takes a whole
// window to come round again could land in the new bucket: counts are exact
// up to the calls in flight while the window turns over.
func (w *timeWindow) tryAdd(now int64) bool {
	e := w.epoch(now)
	b := &w.buckets[e%int64(len(w.buckets))]
	if b.epoch.Load() != e {
		return false
	}
	b.calls.Add(1)
	return true
}

// rotate prepares every bucket up to now's: expired slots are emptied and
// take the epoch they hold next.
func (w *timeWindow) rotate(now int64) *timeBucket {
	e := w.epoch(now)
	n := int64(len(w.buckets))
	if e > w.head {
		from := max(w.head+1, e-n+1, 0)
		for ep := from; ep <= e; ep++ {
			b := &w.buckets[ep%n]
			b.calls.Store(0)
			b.failures, b.slow = 0, 0
			b.epoch.Store(ep) // after the counters: tryAdd sees the epoch only once they are empty
		}
		w.head = e
	}
	// A clock moved backwards writes into the newest bucket.
	return &w.buckets[w.head%n]
}

func (w *timeWindow) add(o outcome, now int64) {
	b := w.rotate(now)
	b.calls.Add(1)
	b.failures += int(o & outFailure)
	b.slow += int(o&outSlow) >> 1
}

func (w *timeWindow) totals(now int64) (calls, failures, slow int) {
	w.rotate(now)
	for i := range w.buckets {
		b := &w.buckets[i]
		calls += int(b.calls.Load())
		failures += b.failures
		slow += b.slow
	}
	return calls, failures, slow
}

func (w *timeWindow) reset() {
	for i := range w.buckets {
		b := &w.buckets[i]
		b.calls.Store(0)
		b.failures, b.slow = 0, 0
		b.epoch.Store(math.MinInt64)
	}
	w.head = math.MinInt64 / 2 // any real epoch is newer; far enough from overflow
}
