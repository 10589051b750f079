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
// Each goroutine adds to one of counterStripes stripes, each on cache lines
// of its own (two, against adjacent-line prefetching), chosen by the
// address of its stack: the same goroutine keeps its stripe while its stack
// stays put, and goroutines on different stacks usually land on different
// stripes. A collision costs only speed. The stripes are allocated on the
// first add, so breakers that never reject do not pay for them.
type stripedCounter struct {
	stripes atomic.Pointer[[counterStripes]counterStripe]
}

const (
	counterBits    = 3
	counterStripes = 1 << counterBits
)

type counterStripe struct {
	n atomic.Uint64
	_ [120]byte
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
