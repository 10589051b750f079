package consume

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// MemoryQueue is an in-memory broker queue, for tests and examples. Publish
// adds messages; each Source it makes receives them in publish order,
// skipping the ones delivered and not settled yet and the ones whose
// redelivery delay (on the queue's clock) is not over. An acknowledged
// message is gone; a released one is delivered again at once, a redelivered
// one after its delay, each with Attempt one higher. Closing a Source puts
// its unsettled messages back, so a new Source continues where it left off,
// like a consumer process restarted on a durable queue. It is safe for
// concurrent use.
type MemoryQueue struct {
	clk clock.Clock

	mu      sync.Mutex
	seq     int
	entries []*memEntry   // messages in publish order, acknowledged ones among them until compacted
	head    int           // entries before head are all acknowledged
	unacked int           // entries not acknowledged
	changed chan struct{} // closed (and replaced) when a message may have become receivable
	acked   int
}

type memEntry struct {
	acked      bool
	msg        Message
	deliveries int
	notBefore  time.Time
	lease      *memDelivery // the delivery settling it; nil when not delivered
}

// NewMemoryQueue returns an empty queue whose redelivery delays run on c;
// nil means clock.System.
func NewMemoryQueue(c clock.Clock) *MemoryQueue {
	return &MemoryQueue{clk: clock.OrSystem(c), changed: make(chan struct{})}
}

func (q *MemoryQueue) check() {
	if q == nil || q.clk == nil {
		panic("consume: MemoryQueue used without NewMemoryQueue")
	}
}

// Publish appends msgs to the queue, in order. A message without an ID gets
// "m" and its position in the queue ("m1", "m2", …); Attempt is set by
// delivery.
func (q *MemoryQueue) Publish(msgs ...Message) {
	q.check()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.seq++
		if m.ID == "" {
			m.ID = "m" + strconv.Itoa(q.seq)
		}
		m.Attempt = 0
		q.entries = append(q.entries, &memEntry{msg: m})
		q.unacked++
	}
	q.signal()
}

// Len returns how many messages are not acknowledged: waiting, delayed or
// delivered and not settled.
func (q *MemoryQueue) Len() int {
	q.check()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.unacked
}

// Acked returns how many messages were acknowledged.
func (q *MemoryQueue) Acked() int {
	q.check()
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.acked
}

// Source returns a new Source receiving from the queue.
func (q *MemoryQueue) Source() *MemorySource {
	q.check()
	return &MemorySource{q: q, done: make(chan struct{})}
}

// signal wakes the receivers. Called with q.mu held.
func (q *MemoryQueue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// MemorySource is a Source on a MemoryQueue. Its Deliveries' Extend does
// nothing; every settling call of a delivery made by a closed Source
// returns ErrGone.
type MemorySource struct {
	q *MemoryQueue

	closeOnce sync.Once
	done      chan struct{}
	closed    bool // under q.mu
}

var _ Source = (*MemorySource)(nil)

// errSourceClosed is returned by Receive on a closed MemorySource.
var errSourceClosed = errors.New("consume: MemorySource closed")

// Receive returns up to max messages that are neither delivered nor
// delayed, in publish order, waiting until there is one.
func (s *MemorySource) Receive(ctx context.Context, max int) ([]Delivery, error) {
	q := s.q
	for {
		q.mu.Lock()
		if s.closed {
			q.mu.Unlock()
			return nil, errSourceClosed
		}
		now := q.clk.Now()
		var out []Delivery
		var earliest time.Time
		for _, e := range q.entries[q.head:] {
			if len(out) >= max {
				break
			}
			if e.acked || e.lease != nil {
				continue
			}
			if e.notBefore.After(now) {
				if earliest.IsZero() || e.notBefore.Before(earliest) {
					earliest = e.notBefore
				}
				continue
			}
			e.deliveries++
			d := &memDelivery{s: s, e: e, msg: e.msg}
			d.msg.Attempt = e.deliveries
			e.lease = d
			out = append(out, d)
		}
		changed := q.changed
		q.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		if err := s.wait(ctx, changed, now, earliest); err != nil {
			return nil, err
		}
	}
}

// wait waits for the queue to change, for the earliest delayed message to
// be due (unless earliest is zero), for ctx to end or for s to close.
func (s *MemorySource) wait(ctx context.Context, changed <-chan struct{}, now, earliest time.Time) error {
	var fire <-chan time.Time
	if !earliest.IsZero() {
		t := s.q.clk.NewTimer(earliest.Sub(now))
		defer t.Stop()
		fire = t.C()
	}
	select {
	case <-changed:
	case <-fire:
	case <-ctx.Done():
		return fmt.Errorf("consume: MemorySource: %w", ctx.Err())
	case <-s.done:
		return errSourceClosed
	}
	return nil
}

// Close puts the messages delivered by s and not settled back in the queue,
// for the next Source.
func (s *MemorySource) Close(context.Context) error {
	s.closeOnce.Do(func() {
		q := s.q
		q.mu.Lock()
		defer q.mu.Unlock()
		s.closed = true
		close(s.done)
		for _, e := range q.entries[q.head:] {
			if e.lease != nil && e.lease.s == s {
				e.lease = nil
			}
		}
		q.signal()
	})
	return nil
}

type memDelivery struct {
	s   *MemorySource
	e   *memEntry
	msg Message
}

func (d *memDelivery) Message() *Message { return &d.msg }

// settle runs f on the entry if d still holds it.
func (d *memDelivery) settle(f func(q *MemoryQueue)) error {
	q := d.s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if d.e.lease != d {
		return fmt.Errorf("consume: MemorySource: message %q: %w", d.msg.ID, ErrGone)
	}
	f(q)
	return nil
}

func (d *memDelivery) Ack(context.Context) error {
	return d.settle(func(q *MemoryQueue) {
		d.e.lease = nil
		d.e.acked = true
		q.acked++
		q.unacked--
		for q.head < len(q.entries) && q.entries[q.head].acked {
			q.entries[q.head] = nil
			q.head++
		}
		if q.head > 1024 && q.head > len(q.entries)/2 { // compact
			q.entries = append(q.entries[:0], q.entries[q.head:]...)
			q.head = 0
		}
	})
}

func (d *memDelivery) Redeliver(_ context.Context, delay time.Duration) error {
	return d.settle(func(q *MemoryQueue) {
		d.e.lease = nil
		d.e.notBefore = q.clk.Now().Add(delay)
		q.signal()
	})
}

func (d *memDelivery) Release(context.Context) error {
	return d.settle(func(q *MemoryQueue) {
		d.e.lease = nil
		d.e.notBefore = time.Time{}
		q.signal()
	})
}

func (d *memDelivery) Extend(context.Context) error { return d.settle(func(*MemoryQueue) {}) }
