package circuitbreaker

import (
	"sync/atomic"
	"unsafe"
)

// stripedCounter counts events that goroutines on several cores report at
// a high rate (rejections of an open breaker), without making them contend
// for one cache line: a shared atomic counter bumped by every call costs
// tens of nanoseconds under two-core contention, as each add takes the line
// from the other core.
//
// Each goroutine adds to one of counterStripes stripes, each on a cache
// line of its own, chosen by the address of its stack: the same goroutine
// keeps its stripe while its stack stays put, and goroutines on different
// stacks usually land on different stripes. Two goroutines that share one
// contend as on a single counter; with 32 stripes that is rare enough (one
// pair in 32 at random; 8 stripes made two long-lived goroutines collide in
// about a third of benchmark runs). The stripes, 2 KiB, are allocated on the
// first add, so breakers that never reject do not pay for them.
type stripedCounter struct {
	stripes atomic.Pointer[[counterStripes]counterStripe]
}

const (
	counterBits    = 5
	counterStripes = 1 << counterBits
)

type counterStripe struct {
	n atomic.Uint64
	_ [56]byte
}

func (c *stripedCounter) add() {
	s := c.stripes.Load()
	if s == nil {
		s = c.alloc()
	}
	var here byte
	s[stripeOf(uintptr(unsafe.Pointer(&here)))].n.Add(1)
}

// stripeOf hashes a stack address to a stripe. Stacks are at least 2 KiB
// and aligned to their size; the bits above 2 KiB tell them apart.
func stripeOf(sp uintptr) int {
	return int((uint64(sp>>11) * 0x9e3779b97f4a7c15) >> (64 - counterBits))
}

func (c *stripedCounter) alloc() *[counterStripes]counterStripe {
	c.stripes.CompareAndSwap(nil, new([counterStripes]counterStripe))
	return c.stripes.Load()
}

// load returns the sum of the stripes: exact once the adds it must count
// have returned.
func (c *stripedCounter) load() uint64 {
	s := c.stripes.Load()
	if s == nil {
		return 0
	}
	var n uint64
	for i := range s {
		n += s[i].n.Load()
	}
	return n
}
