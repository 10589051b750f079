package timeout

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// The states of a detached call, changed once from running by whichever side
// gets there first: the op's goroutine when op returns, or Do when it stops
// waiting.
const (
	running int32 = iota
	finished
	abandoned
)

// outcome is how a detached op ended.
type outcome struct {
	err      error
	panicked bool
	panicVal any
}

// doDetached runs op in its own goroutine and returns when op does, or when
// the call's context ends, whichever comes first.
func (t *Timeout) doDetached(ctx context.Context, d deadline, op func(context.Context) error) error {
	var state atomic.Int32
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		defer func() {
			if v := recover(); v != nil {
				o.panicked, o.panicVal = true, v
			}
			if state.CompareAndSwap(running, finished) {
				done <- o
				return
			}
			if o.panicked {
				t.logger.Error("timeout: detached operation panicked after its deadline",
					"timeout", d.settings.timeout, "panic", fmt.Sprint(o.panicVal), "stack", string(debug.Stack()))
			}
		}()
		o.err = op(d.ctx)
	}()

	select {
	case o := <-done:
		return t.finish(ctx, d, o)
	case <-d.ctx.Done():
		if !state.CompareAndSwap(running, abandoned) {
			// op returned as the context ended: take its outcome.
			return t.finish(ctx, d, <-done)
		}
		if d.end() {
			return t.result(ctx, d.settings, nil, true, true)
		}
		return fmt.Errorf("timeout: left the operation running: %w", ctx.Err())
	}
}

// finish reports the outcome of a detached op that returned while Do waited,
// raising its panic on the caller's goroutine.
func (t *Timeout) finish(ctx context.Context, d deadline, o outcome) error {
	timedOut := d.end()
	if o.panicked {
		panic(o.panicVal)
	}
	return t.result(ctx, d.settings, o.err, timedOut, false)
}
