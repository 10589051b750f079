package natsconsume

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go"
)

// confirmer sends the acknowledgements of AckAsync as requests whose
// replies all come to one subscription, and hands each reply to the
// acknowledgement it answers, so that many wait for their confirmation at
// once without a goroutine, a channel or a timer each (nats.go's
// RequestWithContext makes a channel and a timer per request, and blocks
// its caller). At most maxConfirming wait at once (fewer with a lower
// MaxAckPending: each is for a message delivered and not yet acknowledged);
// AckAsync waits for room beyond that.
type confirmer struct {
	nc      *nats.Conn
	timeout time.Duration // Config.AckTimeout

	mu      sync.Mutex
	sub     *nats.Subscription // made by the first AckAsync
	prefix  string             // the reply subjects': "<inbox>."
	next    uint64             // the last token handed out
	waiting map[uint64]waitingAck
	pending int           // acknowledgements sent whose done has not returned yet
	room    *sync.Cond    // on mu: signalled when pending drops below maxConfirming
	timer   *time.Timer   // fires at timerAt, for the acknowledgements not answered in time
	timerAt time.Time     // zero: the timer is not armed
	closed  bool          // Close was called: AckAsync waits for its answer itself
	idle    chan struct{} // closed when nothing is waiting any more, for Close
}

// maxConfirming bounds the acknowledgements a Source has sent with
// AckAsync and waits for the server to answer: a Consumer holds far fewer
// (its MaxPending), and a MaxAckPending of Unlimited does not let AckAsync
// flood the server with requests whose answers would come after
// AckTimeout.
const maxConfirming = 1024

// waitingAck is one acknowledgement sent and not yet answered.
type waitingAck struct {
	d        *delivery
	done     consume.AckDone
	deadline time.Time
	ctxBound bool // the deadline is ctx's, earlier than AckTimeout
}

// send sends d's acknowledgement with a reply subject of the confirmer's
// and returns true; done gets the outcome. After Close it sends nothing and
// returns false.
func (c *confirmer) send(ctx context.Context, d *delivery, done consume.AckDone) bool {
	now := time.Now()
	w := waitingAck{d: d, done: done, deadline: now.Add(c.timeout)}
	if dl, ok := ctx.Deadline(); ok && dl.Before(w.deadline) {
		w.deadline, w.ctxBound = dl, true
	}
	c.mu.Lock()
	for c.pending >= maxConfirming && !c.closed {
		if c.room == nil {
			c.room = sync.NewCond(&c.mu)
		}
		c.room.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if c.sub == nil {
		inbox := c.nc.NewInbox()
		sub, err := c.nc.Subscribe(inbox+".*", c.answer)
		if err != nil {
			c.mu.Unlock()
			d.settled.Store(false)
			done.AckDone(d.s.settleError("acknowledging", d.msg.ID, err))
			return true
		}
		c.sub, c.prefix, c.waiting = sub, inbox+".", make(map[uint64]waitingAck)
	}
	c.next++
	token := c.next
	c.waiting[token] = w
	c.pending++
	if c.timerAt.IsZero() || w.deadline.Before(c.timerAt) {
		c.arm(w.deadline, now)
	}
	reply := c.prefix + strconv.FormatUint(token, 36)
	c.mu.Unlock()
	if err := c.nc.PublishRequest(d.reply, reply, ackBody); err != nil {
		if w, ok := c.take(token); ok {
			w.fail(d.s.settleError("acknowledging", d.msg.ID, err))
			c.finished(1)
		}
	}
	return true
}

// arm sets the timer to fire at t. Called with c.mu held.
func (c *confirmer) arm(t, now time.Time) {
	c.timerAt = t
	if c.timer == nil {
		c.timer = time.AfterFunc(t.Sub(now), c.expire)
		return
	}
	c.timer.Reset(t.Sub(now))
}

// take removes the acknowledgement of token from those waiting, if it is
// there; the caller calls its done, then finished.
func (c *confirmer) take(token uint64) (waitingAck, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.waiting[token]
	if ok {
		delete(c.waiting, token)
	}
	return w, ok
}

// finished counts n acknowledgements whose done has returned, and tells a
// waiting Close when none is left.
func (c *confirmer) finished(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending >= maxConfirming && c.pending-n < maxConfirming && c.room != nil {
		c.room.Broadcast()
	}
	c.pending -= n
	if c.pending == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
}

// answer is the reply subscription's handler: the server's answer to one
// acknowledgement. An answer that comes after its acknowledgement timed out
// finds nothing waiting, and is dropped.
func (c *confirmer) answer(msg *nats.Msg) {
	token, err := strconv.ParseUint(msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:], 36, 64)
	if err != nil {
		return
	}
	w, ok := c.take(token)
	if !ok {
		return
	}
	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		w.fail(w.d.s.settleError("acknowledging", w.d.msg.ID, nats.ErrNoResponders))
	} else {
		w.done.AckDone(nil)
	}
	c.finished(1)
}

// expire fails the acknowledgements whose deadline has passed without an
// answer, and arms the timer for the earliest of the others. It runs on
// the timer's goroutine; the waiting acknowledgements are few (at most the
// consumer's MaxAckPending), and it runs about once per AckTimeout.
func (c *confirmer) expire() {
	now := time.Now()
	var late []waitingAck
	c.mu.Lock()
	var next time.Time
	for token, w := range c.waiting {
		if !w.deadline.After(now) {
			late = append(late, w)
			delete(c.waiting, token)
			continue
		}
		if next.IsZero() || w.deadline.Before(next) {
			next = w.deadline
		}
	}
	c.timerAt = time.Time{}
	if !next.IsZero() {
		c.arm(next, now)
	}
	c.mu.Unlock()
	for _, w := range late {
		w.fail(w.timeoutError(c.timeout))
	}
	if len(late) > 0 {
		c.finished(len(late))
	}
}

// fail reports a failed acknowledgement, which, as a failed Ack, may be
// tried again.
func (w waitingAck) fail(err error) {
	w.d.settled.Store(false)
	w.done.AckDone(err)
}

// timeoutError is the error of an acknowledgement not answered by its
// deadline: the same as Ack's.
func (w waitingAck) timeoutError(timeout time.Duration) error {
	if w.ctxBound {
		return fmt.Errorf("natsconsume: acknowledging %s: %w", w.d.msg.ID, context.DeadlineExceeded)
	}
	return fmt.Errorf("natsconsume: acknowledging %s: no answer from the server within Config.AckTimeout (%v): %w", w.d.msg.ID, timeout, nats.ErrTimeout)
}

// close stops sending (a later AckAsync waits for its own answer, as Ack
// does), waits within ctx until the done of everything sent has returned,
// and then ends the reply subscription. When ctx ends first, the
// acknowledgements still unanswered fail with ctx's error, which close
// returns, wrapped: the server may have applied them or not, and delivers
// those it did not apply again after AckWait.
func (c *confirmer) close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	if c.room != nil {
		c.room.Broadcast() // those waiting for room wait for their answer themselves
	}
	var err error
	ctxDone := ctx.Done()
	for c.pending > 0 {
		idle := make(chan struct{})
		c.idle = idle
		c.mu.Unlock()
		select {
		case <-idle:
		case <-ctxDone:
			ctxDone = nil // then wait only for the done calls already under way
			c.mu.Lock()
			var left []waitingAck
			for token, w := range c.waiting {
				left = append(left, w)
				delete(c.waiting, token)
			}
			c.mu.Unlock()
			if len(left) > 0 {
				err = fmt.Errorf("natsconsume: Close: %d acknowledgement(s) not confirmed: %w", len(left), ctx.Err())
				for _, w := range left {
					w.fail(fmt.Errorf("natsconsume: acknowledging %s: Source closed before the server confirmed it: %w", w.d.msg.ID, ctx.Err()))
				}
				c.finished(len(left))
			}
		}
		c.mu.Lock()
	}
	c.idle = nil
	sub := c.sub
	c.sub = nil
	if c.timer != nil {
		c.timer.Stop()
		c.timerAt = time.Time{}
	}
	c.mu.Unlock()
	if sub != nil {
		if uerr := sub.Unsubscribe(); uerr != nil && !errors.Is(uerr, nats.ErrConnectionClosed) && err == nil {
			err = fmt.Errorf("natsconsume: Close: ending the acknowledgements' reply subscription: %w", uerr)
		}
	}
	return err
}
