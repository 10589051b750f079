package timeout

import (
	"context"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// clockContext is a context whose deadline is measured on a clock.Clock other
// than the system one (a test's clocktest.Fake): the runtime's timers behind
// context.WithDeadline know only real time. It behaves as a deadline context
// does — Done closes and Err reports context.DeadlineExceeded when the clock
// reaches the deadline, or the parent's error when the parent ends first —
// at the cost of one goroutine per call, which stop ends.
type clockContext struct {
	context.Context // the parent: values come from it
	deadline        time.Time
	own             error // the cause recorded when the deadline passes
	timer           clock.Timer
	done            chan struct{}
	stopped         chan struct{}

	mu    sync.Mutex
	err   error
	cause error
}

func newClockContext(parent context.Context, c clock.Clock, at time.Time, d time.Duration, cause error) *clockContext {
	cc := &clockContext{
		Context:  parent,
		deadline: at,
		own:      cause,
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	cc.timer = c.NewTimer(d)
	go func() {
		select {
		case <-cc.timer.C():
			cc.end(context.DeadlineExceeded, cause)
		case <-parent.Done():
			cc.timer.Stop()
			cc.end(parent.Err(), context.Cause(parent))
		case <-cc.stopped:
		}
	}()
	return cc
}

// Deadline reports the deadline on the context's clock.
func (c *clockContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done is closed when the deadline passes or the parent ends.
func (c *clockContext) Done() <-chan struct{} { return c.done }

// Err reports why Done was closed, or nil while it is open.
func (c *clockContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// end records the first reason the context ended and closes Done.
func (c *clockContext) end(err, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err, c.cause = err, cause
	close(c.done)
}

// stop ends the context (as context.Canceled, if nothing ended it before),
// releases its goroutine and reports whether the deadline had passed.
func (c *clockContext) stop() (timedOut bool) {
	c.end(context.Canceled, context.Canceled)
	c.timer.Stop()
	close(c.stopped)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause == c.own
}
