package consume

import (
	"cmp"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// Unlimited, as Config.MaxAttempts, redelivers a failing message for ever:
// it is dead-lettered only when its handler's error is not retryable
// (Permanent, or refused by Config.RetryIf).
const Unlimited = -1

// NoInPlaceRetries, as Config.InPlaceAttempts, turns in-place retries off: a
// failed message goes straight to delayed redelivery.
const NoInPlaceRetries = -1

// Limits of the settings.
const (
	maxConcurrency     = 4096
	maxPending         = 1_000_000
	maxInPlaceAttempts = 100
	maxInPlaceDelay    = time.Minute
	maxRedeliveryDelay = 24 * time.Hour
	maxExtendEvery     = time.Hour
)

// Config configures a Consumer. The zero Config is the default
// configuration: each zero field means the default its comment names, so
// New(src, h, Config{}) works and a literal sets only what it changes.
// DefaultConfig returns the same defaults spelled out.
type Config struct {
	// Name names the consumer in its events (Component); "" for none.
	Name string
	// Observer receives the consumer's events (Failed, Redelivered,
	// DeadLettered, Released, Dropped); nil observes nothing.
	Observer bulwark.Observer
	// Clock is the time source of the retry waits, the redelivery timers of
	// keyed messages and the Extend period; nil means clock.System.
	Clock clock.Clock

	// Concurrency is the most handlers running at once, in [1, 4096]; 0
	// means 16. Messages of one key always run one at a time.
	Concurrency int
	// MaxPending is the most messages the Consumer holds at once (running,
	// waiting for a worker or for an earlier message of their key, waiting
	// for a redelivery), in [Concurrency, 1e6]; 0 means 256, or Concurrency
	// when that is larger. When that many are held the Consumer stops
	// receiving, and it never asks the Source for more than the free room.
	// It receives again once a quarter of MaxPending is free, or as soon as
	// any room is free while a worker has nothing to run, so that a busy
	// consumer receives in batches and an idle one at once.
	MaxPending int

	// InPlaceAttempts is how many times a failed handler is run again at
	// once, within the same delivery and on the same worker, before the
	// message is redelivered later, in [1, 100]; 0 means 3,
	// NoInPlaceRetries none. These runs do not change Message.Attempt.
	InPlaceAttempts int
	// InPlaceBackoff chooses the wait before in-place retry n (n from 1,
	// no previous wait); nil means retry.Exponential{Initial: 10 *
	// time.Millisecond} (doubling, full jitter).
	InPlaceBackoff retry.Backoff
	// InPlaceMaxDelay caps every in-place wait, in (0, 1m]; 0 means 100ms.
	// A worker waits it out, so keep it short.
	InPlaceMaxDelay time.Duration

	// MaxAttempts is the delivery (Message.Attempt) whose failure, after
	// its in-place retries, dead-letters the message, in [1, 1e6]; 0 means
	// 10, Unlimited never. With MaxAttempts 3 and InPlaceAttempts 2 a
	// message that keeps failing runs 3 × (1 + 2) = 9 times before it is
	// dead-lettered, counting by the Attempt the Source reports (a
	// restarted consumer continues from the broker's count).
	MaxAttempts int
	// Redelivery chooses the delay before a failed message is delivered
	// again: Wait is called with the failed delivery's Attempt (1 after
	// the first) and no previous wait. nil means retry.Exponential{Initial:
	// time.Second} (doubling, full jitter).
	Redelivery retry.Backoff
	// RedeliveryMaxDelay caps every redelivery delay, in (0, 24h]; 0 means
	// 5m. A message that would be dead-lettered while DeadLetters is nil
	// is redelivered after this delay instead.
	RedeliveryMaxDelay time.Duration
	// RetryIf decides whether a handler's error is worth retrying; nil
	// retries every error. An error it refuses, like one wrapping
	// Permanent, dead-letters the message at once. It is not asked about
	// errors caused by the Consumer's own shutdown.
	RetryIf func(error) bool
	// DeadLetters keeps the messages the Consumer gives up on (after
	// MaxAttempts, Permanent or RetryIf); nil means none, and such a
	// message is redelivered after RedeliveryMaxDelay instead of dropped.
	DeadLetters retry.DeadLetterSink[Message]

	// ExtendEvery is how often the Consumer calls Delivery.Extend on every
	// message it holds (running, waiting or held for a redelivery), in
	// (0, 1h]; 0 means 10s. Keep it well under the broker's lease (a
	// JetStream consumer's AckWait).
	ExtendEvery time.Duration
}

// DefaultConfig returns the defaults the zero Config stands for: 16
// handlers at once, 256 messages held, 3 in-place retries with exponential
// waits from 10ms capped at 100ms, dead letters after the 10th delivery,
// redeliveries exponential from 1s capped at 5m (both with full jitter),
// every error retryable, no dead-letter sink, Extend every 10s.
func DefaultConfig() Config {
	return Config{
		Concurrency:        16,
		MaxPending:         256,
		InPlaceAttempts:    3,
		InPlaceBackoff:     retry.Exponential{Initial: 10 * time.Millisecond},
		InPlaceMaxDelay:    100 * time.Millisecond,
		MaxAttempts:        10,
		Redelivery:         retry.Exponential{Initial: time.Second},
		RedeliveryMaxDelay: 5 * time.Minute,
		ExtendEvery:        10 * time.Second,
	}
}

// resolve returns c with every zero field replaced by its default, or an
// error naming the first invalid field and its allowed range.
func (c Config) resolve() (Config, error) {
	d := DefaultConfig()
	c.Concurrency = cmp.Or(c.Concurrency, d.Concurrency)
	if c.MaxPending == 0 {
		c.MaxPending = max(d.MaxPending, c.Concurrency)
	}
	c.InPlaceAttempts = cmp.Or(c.InPlaceAttempts, d.InPlaceAttempts)
	c.InPlaceBackoff = cmp.Or(c.InPlaceBackoff, d.InPlaceBackoff)
	c.InPlaceMaxDelay = cmp.Or(c.InPlaceMaxDelay, d.InPlaceMaxDelay)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, d.MaxAttempts)
	c.Redelivery = cmp.Or(c.Redelivery, d.Redelivery)
	c.RedeliveryMaxDelay = cmp.Or(c.RedeliveryMaxDelay, d.RedeliveryMaxDelay)
	c.ExtendEvery = cmp.Or(c.ExtendEvery, d.ExtendEvery)
	switch {
	case c.Concurrency < 1 || c.Concurrency > maxConcurrency:
		return c, fmt.Errorf("consume: Config.Concurrency must be 0 (meaning 16) or in [1, 4096], got %d", c.Concurrency)
	case c.MaxPending < c.Concurrency || c.MaxPending > maxPending:
		return c, fmt.Errorf("consume: Config.MaxPending must be 0 (meaning 256) or in [Concurrency = %d, 1e6], got %d", c.Concurrency, c.MaxPending)
	case c.InPlaceAttempts != NoInPlaceRetries && (c.InPlaceAttempts < 1 || c.InPlaceAttempts > maxInPlaceAttempts):
		return c, fmt.Errorf("consume: Config.InPlaceAttempts must be 0 (meaning 3), consume.NoInPlaceRetries or in [1, 100], got %d", c.InPlaceAttempts)
	case c.InPlaceMaxDelay < 0 || c.InPlaceMaxDelay > maxInPlaceDelay:
		return c, fmt.Errorf("consume: Config.InPlaceMaxDelay must be 0 (meaning 100ms) or in (0, 1m], got %v", c.InPlaceMaxDelay)
	case c.MaxAttempts != Unlimited && (c.MaxAttempts < 1 || c.MaxAttempts > 1e6):
		return c, fmt.Errorf("consume: Config.MaxAttempts must be 0 (meaning 10), consume.Unlimited or in [1, 1e6], got %d", c.MaxAttempts)
	case c.RedeliveryMaxDelay < 0 || c.RedeliveryMaxDelay > maxRedeliveryDelay:
		return c, fmt.Errorf("consume: Config.RedeliveryMaxDelay must be 0 (meaning 5m0s) or in (0, 24h], got %v", c.RedeliveryMaxDelay)
	case c.ExtendEvery < 0 || c.ExtendEvery > maxExtendEvery:
		return c, fmt.Errorf("consume: Config.ExtendEvery must be 0 (meaning 10s) or in (0, 1h], got %v", c.ExtendEvery)
	}
	if err := c.InPlaceBackoff.Validate(); err != nil {
		return c, fmt.Errorf("consume: Config.InPlaceBackoff: %w", err)
	}
	if err := c.Redelivery.Validate(); err != nil {
		return c, fmt.Errorf("consume: Config.Redelivery: %w", err)
	}
	if c.InPlaceAttempts == NoInPlaceRetries {
		c.InPlaceAttempts = 0
	}
	return c, nil
}
