package consume

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// hold keeps a keyed message for its redelivery after delay. Its key stays
// busy meanwhile.
func (c *Consumer) hold(ctx context.Context, it *item, delay time.Duration) {
	c.mu.Lock()
	if gone := it.gone; gone != nil { // an Extend found it gone while it ran
		c.mu.Unlock()
		c.drop(ctx, it, gone)
		return
	}
	it.at = c.clk.Now().Add(delay)
	heap.Push(&c.held, it)
	first := c.held[0] == it
	c.mu.Unlock()
	if first {
		c.poke()
	}
}

// timers is the Consumer's one timer goroutine: it makes held messages
// ready when their delay is over, and extends every held message's lease
// every ExtendEvery. It waits on one clock timer, for the earliest of those.
func (c *Consumer) timers(ctx context.Context, stop <-chan struct{}) {
	for {
		now := c.clk.Now()
		var extend, gone []*item
		c.mu.Lock()
		for len(c.held) > 0 && !c.held[0].at.After(now) {
			it := heap.Pop(&c.held).(*item)
			if it.gone != nil {
				gone = append(gone, it)
				continue
			}
			it.msg.Attempt++
			c.ready = append(c.ready, it)
			c.workCond.Signal()
		}
		switch {
		case c.pending == 0:
			c.nextExtend = time.Time{}
		case c.nextExtend.IsZero():
			c.nextExtend = now.Add(c.cfg.ExtendEvery)
		case !now.Before(c.nextExtend):
			for it := range c.items {
				extend = append(extend, it)
			}
			c.nextExtend = now.Add(c.cfg.ExtendEvery)
		}
		next := c.nextExtend
		if len(c.held) > 0 && (next.IsZero() || c.held[0].at.Before(next)) {
			next = c.held[0].at
		}
		c.mu.Unlock()

		for _, it := range gone {
			c.drop(ctx, it, it.gone)
		}
		slices.SortFunc(extend, func(a, b *item) int { return cmp.Compare(a.seq, b.seq) })
		for _, it := range extend {
			c.extend(ctx, it)
		}

		var t clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			// From the time now, not the loop's start: the extends took
			// some, and the clock may have moved meanwhile.
			t = c.clk.NewTimer(next.Sub(c.clk.Now()))
			fire = t.C()
		}
		c.mu.Lock()
		c.timerAt = next // for tests: what the goroutine waits for
		c.mu.Unlock()
		select {
		case <-fire:
		case <-c.resched:
		case <-stop:
			if t != nil {
				t.Stop()
			}
			return
		}
		if t != nil {
			t.Stop()
		}
	}
}

// extend extends one message's lease. When the Source says the delivery is
// gone, a held message is dropped at once, and any other is dropped when
// its turn comes (a running one when it is settled).
func (c *Consumer) extend(ctx context.Context, it *item) {
	sctx, cancel := settleContext(ctx)
	defer cancel()
	it.mu.Lock()
	if it.settled {
		it.mu.Unlock()
		return
	}
	err := it.d.Extend(sctx)
	it.mu.Unlock()
	if err == nil || !errors.Is(err, ErrGone) {
		return
	}
	c.mu.Lock()
	if it.idx >= 0 {
		heap.Remove(&c.held, it.idx)
		c.mu.Unlock()
		c.drop(ctx, it, err)
		return
	}
	it.gone = err
	c.mu.Unlock()
}

// heldHeap orders held messages by due time, then receive order.
type heldHeap []*item

func (h heldHeap) Len() int { return len(h) }
func (h heldHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h heldHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *heldHeap) Push(x any) {
	it := x.(*item)
	it.idx = len(*h)
	*h = append(*h, it)
}
func (h *heldHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.idx = -1
	return it
}
