package consume

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
	"github.com/bulwark-go/bulwark/retry"
)

// settleTimeout bounds each call the Consumer makes on a Delivery (Ack,
// Redeliver, Release, Extend) and the Source's Close once its work context
// has ended, so that a message handled just before a shutdown is still
// acknowledged, and one cut short is still released.
const settleTimeout = 30 * time.Second

// Consumer runs a Handler on the messages a Source brings, as the package
// doc describes. Make one with New; it is a bulwark.Service.
type Consumer struct {
	src Source
	h   Handler
	cfg Config
	clk clock.Clock
	obs bulwark.Observer
	lc  *lifecycle.State

	closeOnce sync.Once
	closeErr  error

	confirming sync.WaitGroup // acknowledgements sent with AckAsync and not yet confirmed

	resched chan struct{} // wakes the timer goroutine (cap 1)

	mu         sync.Mutex
	workCond   *sync.Cond // workers wait for ready messages
	spaceCond  *sync.Cond // the receiver waits for room
	stopping   bool
	seq        uint64
	pending    int                // messages held, as counted against MaxPending
	running    int                // workers running a message
	items      map[*item]struct{} // every message held
	ready      []*item            // messages a worker may run, in order
	keys       map[string][]*item // busy keys and the messages waiting behind them
	held       heldHeap           // keyed messages waiting for their redelivery
	nextExtend time.Time          // when the held messages' leases are extended next
	timerAt    time.Time          // the deadline the timer goroutine waits for (zero: none)
}

var _ bulwark.Service = (*Consumer)(nil)

// item is one message the Consumer holds.
type item struct {
	c   *Consumer
	d   Delivery
	msg Message // the handler's copy: the Source's Message is not changed
	key string
	seq uint64 // receive order

	mu      sync.Mutex // serialises the calls on d
	settled bool

	ackCtx context.Context // the context of an AckAsync, for its events

	// Under Consumer.mu:
	gone error     // an Extend's ErrGone: drop instead of running
	at   time.Time // when held: when it is due
	idx  int       // its index in held, -1 when not held

	// Only the worker or timer goroutine that owns the message uses these.
	history []retry.Attempt // the last maxHistory failed runs
	runs    int             // the failed runs so far
}

// New returns a Consumer that runs h on the messages src brings, or an error
// when src or h is nil or a setting of cfg is invalid. The zero Config is the
// default configuration. The Consumer owns src: it closes it on Close.
func New(src Source, h Handler, cfg Config) (*Consumer, error) {
	if src == nil {
		return nil, errors.New("consume: New needs a Source, got nil")
	}
	if h == nil {
		return nil, errors.New("consume: New needs a Handler, got nil")
	}
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		src:     src,
		h:       h,
		cfg:     cfg,
		clk:     clock.OrSystem(cfg.Clock),
		obs:     cfg.Observer,
		lc:      lifecycle.New(),
		resched: make(chan struct{}, 1),
		items:   make(map[*item]struct{}),
		keys:    make(map[string][]*item),
	}
	c.workCond = sync.NewCond(&c.mu)
	c.spaceCond = sync.NewCond(&c.mu)
	return c, nil
}

func (c *Consumer) check() {
	if c == nil || c.lc == nil {
		panic("consume: Consumer used without New")
	}
}

// Run receives and handles messages until ctx ends, Close is called, or the
// Source fails for good (Receive returns an error other than ctx's). It then
// stops receiving, waits for the running handlers (their context is
// cancelled when ctx ends, or when Close's context ends first) and for the
// outcome of every acknowledgement sent with AsyncAcker.AckAsync (which
// the Source bounds), releases every message still held with
// Delivery.Release, and returns: nil after
// Close, which also closes the Source; ctx's error, wrapped, when ctx ended
// (the Source stays open, for another Run or for Close); the Source's error,
// wrapped, when it failed. A second Run while one runs returns
// bulwark.ErrRunning, a Run after Close bulwark.ErrClosed.
func (c *Consumer) Run(ctx context.Context) error {
	c.check()
	work, err := c.lc.Begin(ctx)
	if err != nil {
		return err
	}
	defer c.lc.End()
	c.mu.Lock()
	c.stopping = false
	c.mu.Unlock()

	recvCtx, cancelRecv := context.WithCancel(work)
	defer cancelRecv()
	failed := make(chan error, 1)
	var recv, workers sync.WaitGroup
	recv.Go(func() {
		if err := c.receive(recvCtx); err != nil {
			failed <- err
		}
	})
	for range c.cfg.Concurrency {
		workers.Go(func() { c.worker(work) })
	}
	stopTimers := make(chan struct{})
	timersDone := make(chan struct{})
	go func() {
		defer close(timersDone)
		c.timers(work, stopTimers)
	}()

	var runErr error
	select {
	case <-c.lc.Stop:
	case <-work.Done():
	case runErr = <-failed:
	}
	c.mu.Lock()
	c.stopping = true
	c.workCond.Broadcast()
	c.spaceCond.Broadcast()
	c.mu.Unlock()
	cancelRecv()
	recv.Wait()
	workers.Wait()
	close(stopTimers)
	<-timersDone
	c.confirming.Wait() // every AckAsync's outcome: the Source bounds the wait
	c.releaseAll(work)

	switch {
	case runErr != nil:
		return runErr
	case c.lc.Closed():
		c.closeSource(work)
		return nil
	}
	return fmt.Errorf("consume: consumer stopped: %w", ctx.Err())
}

// Close stops Run: it stops receiving, starts no new handler, lets the
// running handlers finish (a message waiting between in-place retries is
// not run again), waits for the broker to confirm the acknowledgements
// sent (see AsyncAcker), releases every message still held (waiting for
// its key, for a worker, for an in-place retry or for a redelivery) for
// the broker to deliver again, and closes the Source. It waits for that within ctx; when ctx ends first it cancels the
// running handlers' context (their messages are then released, not failed)
// and returns ctx's error, wrapped, while Run finishes releasing in the
// background. Otherwise it returns the Source's Close error. It may be
// called before Run, more than once, and from any goroutine.
func (c *Consumer) Close(ctx context.Context) error {
	c.check()
	if err := c.lc.Close(ctx, "consume: consumer"); err != nil {
		return err
	}
	return c.closeSource(ctx)
}

// closeSource closes the Source once.
func (c *Consumer) closeSource(ctx context.Context) error {
	c.closeOnce.Do(func() {
		sctx, cancel := settleContext(ctx)
		defer cancel()
		if err := c.src.Close(sctx); err != nil {
			c.closeErr = fmt.Errorf("consume: closing the source: %w", err)
		}
	})
	return c.closeErr
}

// settleContext returns the context of a call on a Delivery or the Source:
// the work context itself while it lasts (nothing to allocate on the hot
// path), and once it has ended (a shutdown), one that is not cancelled
// with it, bounded by settleTimeout. A call already running when the work
// context ends is cancelled with it; the message is then dropped, and the
// broker delivers it again.
func settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
}

// receive calls Receive while there is room, until ctx ends or the
// Consumer stops. It returns an error only when the Source failed.
func (c *Consumer) receive(ctx context.Context) error {
	for {
		c.mu.Lock()
		for !c.roomToReceive() && !c.stopping {
			c.spaceCond.Wait()
		}
		if c.stopping {
			c.mu.Unlock()
			return nil
		}
		n := c.cfg.MaxPending - c.pending
		c.mu.Unlock()
		ds, err := c.src.Receive(ctx, n)
		c.add(ds) // even beside an error: they are settled or released like any other
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("consume: receiving: %w", err)
		}
	}
}

// roomToReceive reports whether the receiver may call Receive: when a
// quarter of MaxPending is free, so that each Receive brings a batch rather
// than the one message just settled, or when any room is free and a worker
// has nothing to run. Called with c.mu held.
func (c *Consumer) roomToReceive() bool {
	free := c.cfg.MaxPending - c.pending
	return free >= max(1, c.cfg.MaxPending/4) ||
		free > 0 && len(c.ready) == 0 && c.running < c.cfg.Concurrency
}

// add takes received deliveries in: each runs at once unless its key is
// busy, in which case it waits behind the key's earlier messages.
func (c *Consumer) add(ds []Delivery) {
	if len(ds) == 0 {
		return
	}
	c.mu.Lock()
	wasIdle := c.pending == 0
	for _, d := range ds {
		c.seq++
		it := &item{c: c, d: d, msg: *d.Message(), seq: c.seq, idx: -1}
		it.key = it.msg.Key
		c.pending++
		c.items[it] = struct{}{}
		if it.key != "" {
			if q, busy := c.keys[it.key]; busy {
				c.keys[it.key] = append(q, it)
				continue
			}
			c.keys[it.key] = nil
		}
		c.ready = append(c.ready, it)
		c.workCond.Signal()
	}
	c.mu.Unlock()
	if wasIdle {
		c.poke()
	}
}

// worker runs ready messages until the Consumer stops.
func (c *Consumer) worker(ctx context.Context) {
	c.mu.Lock()
	for {
		if len(c.ready) == 0 {
			c.spaceCond.Signal() // an idle worker: the receiver may want to know
		}
		for len(c.ready) == 0 && !c.stopping {
			c.workCond.Wait()
		}
		if c.stopping || c.stopped() { // Close starts nothing new
			c.mu.Unlock()
			return
		}
		it := c.ready[0]
		c.ready[0] = nil
		c.ready = c.ready[1:]
		gone := it.gone
		c.running++
		c.mu.Unlock()
		if gone != nil {
			c.drop(ctx, it, gone)
		} else {
			c.process(ctx, it)
		}
		c.mu.Lock()
		c.running--
	}
}

// finish forgets a settled (or dropped) message and lets the next message of
// its key run.
func (c *Consumer) finish(it *item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[it]; !ok {
		return
	}
	delete(c.items, it)
	c.pending--
	c.spaceCond.Signal()
	if it.key == "" {
		return
	}
	q := c.keys[it.key]
	if len(q) == 0 {
		delete(c.keys, it.key)
		return
	}
	next := q[0]
	q[0] = nil
	c.keys[it.key] = q[1:]
	c.ready = append(c.ready, next)
	c.workCond.Signal()
}

// releaseAll releases every message still held, in the order received, once
// the receiver, the workers and the timers have stopped.
func (c *Consumer) releaseAll(ctx context.Context) {
	c.mu.Lock()
	all := make([]*item, 0, len(c.items))
	for it := range c.items {
		all = append(all, it)
	}
	clear(c.items)
	clear(c.keys)
	clear(c.ready)
	c.ready = c.ready[:0]
	clear(c.held)
	c.held = c.held[:0]
	c.pending = 0
	c.nextExtend = time.Time{}
	for _, it := range all {
		it.idx = -1
	}
	c.mu.Unlock()
	// The other goroutines have ended: it.gone is no longer written.
	slices.SortFunc(all, func(a, b *item) int { return cmp.Compare(a.seq, b.seq) })
	for _, it := range all {
		if it.gone != nil {
			c.drop(ctx, it, it.gone)
			continue
		}
		c.release(ctx, it)
	}
}

// settle ends a message's delivery with op, forgets the message and reports
// whether op succeeded; when it failed, the message is reported Dropped.
func (c *Consumer) settle(ctx context.Context, it *item, op func(ctx context.Context) error) bool {
	sctx, cancel := settleContext(ctx)
	it.mu.Lock()
	err := op(sctx)
	it.settled = true
	it.mu.Unlock()
	cancel()
	c.finish(it)
	if err != nil {
		if c.obs != nil {
			c.obs.Observe(ctx, Dropped{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Err: err})
		}
		return false
	}
	return true
}

// ack acknowledges a handled message. While the work context lasts, a
// Delivery that is an AsyncAcker is acknowledged with AckAsync: the worker
// moves on once the acknowledgement is sent, and the message keeps its
// MaxPending slot and its key until AckDone reports the broker's answer.
// Otherwise (and during a shutdown) it waits for Ack, as settle does.
func (c *Consumer) ack(ctx context.Context, it *item) {
	aa, ok := it.d.(AsyncAcker)
	if !ok || ctx.Err() != nil {
		c.settle(ctx, it, it.d.Ack)
		return
	}
	c.confirming.Add(1)
	it.mu.Lock()
	it.settled = true // no Extend meanwhile
	it.ackCtx = ctx
	aa.AckAsync(ctx, it)
	it.mu.Unlock()
}

// AckDone ends a message acknowledged with AckAsync once the Source knows
// the outcome: it forgets the message, lets the next message of its key
// run, and reports the message Dropped when the acknowledgement failed.
func (it *item) AckDone(err error) {
	c := it.c
	c.finish(it)
	if err != nil && c.obs != nil {
		c.obs.Observe(it.ackCtx, Dropped{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Err: err})
	}
	c.confirming.Done()
}

// release gives the message back unsettled.
func (c *Consumer) release(ctx context.Context, it *item) {
	if c.settle(ctx, it, it.d.Release) && c.obs != nil {
		c.obs.Observe(ctx, Released{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt})
	}
}

// drop lets go of a message whose delivery is gone, without settling it.
func (c *Consumer) drop(ctx context.Context, it *item, err error) {
	it.mu.Lock()
	it.settled = true
	it.mu.Unlock()
	c.finish(it)
	if c.obs != nil {
		c.obs.Observe(ctx, Dropped{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Err: err})
	}
}

// stopped reports whether Close was called.
func (c *Consumer) stopped() bool {
	select {
	case <-c.lc.Stop:
		return true
	default:
		return false
	}
}

// poke wakes the timer goroutine to look at its deadlines again.
func (c *Consumer) poke() {
	select {
	case c.resched <- struct{}{}:
	default:
	}
}
