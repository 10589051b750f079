package hedge

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// latencies keeps the last window latencies and a percentile of them,
// recomputed every tenth of a window so that reading it costs one atomic
// load.
type latencies struct {
	percent float64
	every   int // recompute after this many new samples

	mu      sync.Mutex
	ring    []time.Duration
	next    int
	full    bool
	fresh   int // samples since the last recomputation
	scratch []time.Duration

	current atomic.Int64 // the percentile, or -1 until the ring is full
}

func newLatencies(percent float64, window int) *latencies {
	l := &latencies{
		percent: percent,
		every:   max(1, window/10),
		ring:    make([]time.Duration, window),
		scratch: make([]time.Duration, window),
	}
	l.current.Store(-1)
	return l
}

func (l *latencies) record(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = d
	l.next++
	if l.next == len(l.ring) {
		l.next, l.full = 0, true
	}
	l.fresh++
	if !l.full || (l.fresh < l.every && l.current.Load() >= 0) {
		return
	}
	l.recompute()
}

// recompute sets the percentile from a full ring. l.mu is held.
func (l *latencies) recompute() {
	l.fresh = 0
	copy(l.scratch, l.ring)
	slices.Sort(l.scratch)
	// Nearest rank: the smallest sample with at least percent% of the
	// samples at or below it.
	rank := int(math.Ceil(l.percent / 100 * float64(len(l.scratch))))
	l.current.Store(int64(l.scratch[max(rank, 1)-1]))
}

// percentile returns the current percentile, and false until a full window
// of latencies is known.
func (l *latencies) percentile() (time.Duration, bool) {
	d := l.current.Load()
	return time.Duration(d), d >= 0
}

// resized returns latencies over window samples for percent, holding the
// most recent samples l has (up to window of them), so that a new setting
// starts from what is known rather than from nothing.
func (l *latencies) resized(percent float64, window int) *latencies {
	n := newLatencies(percent, window)
	l.mu.Lock()
	defer l.mu.Unlock()
	have := l.next
	if l.full {
		have = len(l.ring)
	}
	keep := min(have, window)
	for i := keep; i > 0; i-- { // oldest kept first
		n.ring[n.next] = l.ring[(l.next-i+len(l.ring))%len(l.ring)]
		n.next++
	}
	if n.next == window {
		n.next, n.full = 0, true
		n.recompute()
	}
	return n
}
