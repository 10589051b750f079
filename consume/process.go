package consume

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/retry"
)

// maxHistory bounds the runs a message's dead letter records: the last ones.
const maxHistory = 100

// process runs the handler on a message, with its in-place retries, and
// then settles it, holds it for a redelivery, or dead-letters it.
func (c *Consumer) process(ctx context.Context, it *item) {
	m := &it.msg
	for run := 1; ; run++ {
		start := c.clk.Now()
		err := c.h.Handle(ctx, m)
		if err == nil {
			c.ack(ctx, it)
			return
		}
		if ctx.Err() != nil { // the Consumer's shutdown, not the message
			c.release(ctx, it)
			return
		}
		it.runs++
		if len(it.history) == maxHistory {
			it.history = append(it.history[:0], it.history[1:]...)
		}
		it.history = append(it.history, retry.Attempt{
			Number: it.runs, Start: start, Duration: c.clk.Now().Sub(start), Err: err,
		})
		if !c.retryable(err) {
			c.failed(ctx, it, run, err, -1)
			c.giveUp(ctx, it, retry.ErrNotRetryable, err)
			return
		}
		if run <= c.cfg.InPlaceAttempts && !c.stopped() {
			delay := c.cfg.InPlaceBackoff.Wait(run, 0, c.cfg.InPlaceMaxDelay)
			it.history[len(it.history)-1].Delay = delay
			c.failed(ctx, it, run, err, delay)
			if !c.sleep(ctx, delay) {
				c.release(ctx, it)
				return
			}
			continue
		}
		c.failed(ctx, it, run, err, -1)
		if c.cfg.MaxAttempts != Unlimited && m.Attempt >= c.cfg.MaxAttempts {
			c.giveUp(ctx, it, retry.ErrMaxAttempts, err)
			return
		}
		c.redeliver(ctx, it, c.cfg.Redelivery.Wait(m.Attempt, 0, c.cfg.RedeliveryMaxDelay), err)
		return
	}
}

// retryable reports whether a handler error is worth another attempt.
func (c *Consumer) retryable(err error) bool {
	if retry.IsPermanent(err) {
		return false
	}
	return c.cfg.RetryIf == nil || c.cfg.RetryIf(err)
}

func (c *Consumer) failed(ctx context.Context, it *item, run int, err error, retryIn time.Duration) {
	if c.obs != nil {
		c.obs.Observe(ctx, Failed{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Run: run, Err: err, Retry: retryIn})
	}
}

// sleep waits d on the clock; it returns false when ctx ends or Close is
// called first.
func (c *Consumer) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil && !c.stopped()
	}
	t := c.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
	case <-c.lc.Stop:
	}
	return false
}

// giveUp dead-letters a message, or, without a sink, redelivers it after the
// longest delay.
func (c *Consumer) giveUp(ctx context.Context, it *item, reason, last error) {
	derr := fmt.Errorf("consume: message %q given up at delivery %d: %w: %w", it.msg.ID, it.msg.Attempt, reason, last)
	if c.cfg.DeadLetters == nil {
		c.redeliver(ctx, it, c.cfg.RedeliveryMaxDelay, derr)
		return
	}
	letter := retry.DeadLetter[Message]{Item: it.msg, Err: derr, Attempts: slices.Clone(it.history)}
	if err := c.cfg.DeadLetters.DeadLetter(ctx, letter); err != nil {
		if ctx.Err() != nil {
			c.release(ctx, it)
			return
		}
		serr := fmt.Errorf("consume: dead-letter sink failed: %w (message failed: %w)", err, derr)
		c.redeliver(ctx, it, c.cfg.Redelivery.Wait(it.msg.Attempt, 0, c.cfg.RedeliveryMaxDelay), serr)
		return
	}
	if c.settle(ctx, it, it.d.Ack) && c.obs != nil {
		c.obs.Observe(ctx, DeadLettered{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Runs: len(letter.Attempts), Reason: reason, Err: last})
	}
}

// redeliver has a failed message delivered again after delay: held here, on
// a timer, when it has a key (its later messages keep waiting), handed back
// to the Source otherwise. During Close a keyed message is released instead.
func (c *Consumer) redeliver(ctx context.Context, it *item, delay time.Duration, err error) {
	if n := len(it.history); n > 0 {
		it.history[n-1].Delay = delay
	}
	if it.key != "" {
		if c.stopped() {
			c.release(ctx, it)
			return
		}
		if c.obs != nil {
			c.obs.Observe(ctx, Redelivered{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Delay: delay, InProcess: true, Err: err})
		}
		c.hold(ctx, it, delay)
		return
	}
	if c.settle(ctx, it, func(ctx context.Context) error { return it.d.Redeliver(ctx, delay) }) && c.obs != nil {
		c.obs.Observe(ctx, Redelivered{Name: c.cfg.Name, ID: it.msg.ID, Key: it.key, Topic: it.msg.Topic, Attempt: it.msg.Attempt, Delay: delay, Err: err})
	}
}
