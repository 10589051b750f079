package consume_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/consume"
)

// broker is an in-memory queue: messages in publish order, each delivered
// to one source at a time until it is settled. flaw names one deliberate
// defect ("" for none).
type broker struct {
	flaw  string
	lease time.Duration // a delivery not settled or extended within it is delivered again

	mu   sync.Mutex
	msgs []*stored
}

type stored struct {
	msg        consume.Message
	deliveries int
	notBefore  time.Time
	holder     *delivery // nil when not delivered
	leasedTill time.Time // when holder's lease ends
	done       bool
}

func (b *broker) publish(msgs ...consume.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range msgs {
		m.Headers = maps.Clone(m.Headers)
		b.msgs = append(b.msgs, &stored{msg: m})
	}
}

// source receives from a broker.
type source struct {
	b      *broker
	closed bool // under b.mu
}

// Receive polls the broker every millisecond for messages neither
// delivered, settled nor delayed.
func (s *source) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	for {
		if out := s.take(max); len(out) > 0 {
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("source: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *source) take(max int) []consume.Delivery {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.flaw == "over-delivers" {
		max++
	}
	var out []consume.Delivery
	now := time.Now()
	for _, st := range b.msgs {
		if len(out) == max {
			break
		}
		if st.done || st.holder != nil && now.Before(st.leasedTill) || now.Before(st.notBefore) {
			continue
		}
		st.deliveries++
		d := &delivery{b: b, s: s, st: st, msg: st.msg}
		d.msg.Attempt = st.deliveries
		if b.flaw == "attempt-stuck" {
			d.msg.Attempt = 1
		}
		if b.flaw == "drops-headers" {
			d.msg.Headers = nil
		}
		st.holder, st.leasedTill = d, now.Add(b.lease)
		out = append(out, d)
	}
	if b.flaw == "reorders" {
		slices.Reverse(out)
	}
	return out
}

// Close gives the source's unsettled messages back to the broker.
func (s *source) Close(context.Context) error {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.closed = true
	for _, st := range s.b.msgs {
		if st.holder != nil && st.holder.s == s {
			st.holder = nil
		}
	}
	return nil
}

type delivery struct {
	b   *broker
	s   *source
	st  *stored
	msg consume.Message
}

func (d *delivery) Message() *consume.Message { return &d.msg }

// settle runs f on the stored message while d holds it.
func (d *delivery) settle(f func()) error {
	d.b.mu.Lock()
	defer d.b.mu.Unlock()
	if d.st.holder != d {
		return fmt.Errorf("source: message %s: %w", d.msg.ID, consume.ErrGone)
	}
	f()
	return nil
}

func (d *delivery) Ack(context.Context) error {
	return d.settle(func() {
		d.st.holder = nil
		if d.b.flaw != "ack-forgets" {
			d.st.done = true
		}
	})
}

func (d *delivery) Redeliver(_ context.Context, delay time.Duration) error {
	return d.settle(func() {
		d.st.holder = nil
		if d.b.flaw == "redeliver-drops" {
			d.st.done = true
			return
		}
		d.st.notBefore = time.Now().Add(delay)
	})
}

func (d *delivery) Release(context.Context) error {
	return d.settle(func() {
		d.st.holder = nil
		if d.b.flaw == "release-acks" {
			d.st.done = true
		}
	})
}

func (d *delivery) Extend(context.Context) error {
	return d.settle(func() {
		if d.b.flaw != "extend-ignored" {
			d.st.leasedTill = time.Now().Add(d.b.lease)
		}
	})
}
