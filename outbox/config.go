package outbox

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// Unlimited, as Config.MaxAttempts, retries a failing message for ever: it
// never becomes a dead letter unless its Publisher refuses it as invalid
// (see ErrInvalidMessage).
const Unlimited = -1

// NoTimeout, as Config.PublishTimeout, lets each Publish run until the
// lease's end.
const NoTimeout time.Duration = -1

// maxDuration bounds the relay's periods and waits: a day. A longer lease
// could not be enforced by PostgreSQL's idle-in-transaction timeout, and a
// longer poll or retry wait is a misconfiguration, not a setting.
const maxDuration = 24 * time.Hour

// Config configures a Relay. The zero Config is the default configuration:
// each zero field means the default its comment names, so NewRelay(store,
// pub, Config{}) works and a literal sets only what it changes.
// DefaultConfig returns the same defaults spelled out.
type Config struct {
	// Name names the relay in its events (Component); "" for none.
	Name string
	// Observer receives the relay's events (Published, PublishFailed,
	// DeadLettered); nil observes nothing.
	Observer bulwark.Observer

	// BatchSize is the most messages one claim takes, in [1, 10000]; 0
	// means 100.
	BatchSize int
	// Concurrency is how many keys of a batch are published at once, in
	// [1, 1024]; 0 means 8. Messages of one key are always published one
	// at a time.
	Concurrency int
	// PollInterval is how long the relay waits before looking for new
	// messages when its store cannot notify it (or a notification was
	// lost), in (0, 24h]; 0 means 1 s.
	PollInterval time.Duration
	// PublishTimeout bounds each Publish call, in (0, Lease); 0 means 10 s
	// (or a tenth of Lease, when Lease is set to 10 s or less), NoTimeout
	// none (the lease still bounds the whole batch).
	PublishTimeout time.Duration
	// Lease is how long one batch may take, from claim to recorded outcome,
	// before the relay gives up publishing it and another relay may claim
	// its messages, in (PublishTimeout, 24h]; 0 means 1 min.
	Lease time.Duration
	// MaxAttempts is the number of failed publishes after which a message
	// is dead-lettered, in [1, 1e6]; 0 means 10, Unlimited retries for
	// ever. A message its Publisher refuses as invalid (an error matching
	// ErrInvalidMessage) is dead-lettered at its first failure.
	MaxAttempts int
	// Backoff chooses the wait before a failed message's next attempt:
	// retry.Constant, retry.Exponential, retry.Decorrelated or
	// retry.BackOff; Wait is called with the number of failed attempts so
	// far (1 after the first) and no previous wait. nil means
	// retry.Exponential{Initial: time.Second, Multiplier: 2, Jitter:
	// retry.EqualJitter}, so that messages failing together do not retry
	// together.
	Backoff retry.Backoff
	// MaxDelay caps every wait Backoff chooses, in (0, 24h]; 0 means 1 min.
	MaxDelay time.Duration
	// SkipDeadLetters lets the later messages of a key with a dead letter be
	// published. By default (false) a dead letter blocks its key until it is
	// replayed or discarded, so consumers never see a key's messages out of
	// order. With it set, a replayed dead letter is published after the
	// messages of its key that went ahead of it.
	SkipDeadLetters bool
	// Retention keeps published messages in the store for this long before
	// Run deletes them (for audit or replay), in [0, 10 years]; 0 (the
	// default) deletes them as soon as they are published.
	Retention time.Duration
	// CleanupInterval is how often Run deletes the messages kept longer
	// than Retention, in (0, 24h]; 0 means 1 min. It matters only when
	// Retention is set.
	CleanupInterval time.Duration

	// Clock is the time source of claims, leases, retry times, waits and
	// Retention; nil means clock.System.
	Clock clock.Clock
	// Logger receives the relay's warnings (failed claims or recordings,
	// lost notification channels, failed cleanups) under the key "error";
	// nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults the zero Config stands for: batches of
// 100, 8 keys at once, a 1 s poll, a 10 s publish timeout, a 1 min lease,
// dead-lettering after 10 failed attempts with exponential waits from 1 s
// doubling up to 1 min (with equal jitter), dead letters blocking their
// keys, and published messages deleted at once.
func DefaultConfig() Config {
	return Config{
		BatchSize:       100,
		Concurrency:     8,
		PollInterval:    time.Second,
		PublishTimeout:  10 * time.Second,
		Lease:           time.Minute,
		MaxAttempts:     10,
		Backoff:         retry.Exponential{Initial: time.Second, Multiplier: 2, Jitter: retry.EqualJitter},
		MaxDelay:        time.Minute,
		CleanupInterval: time.Minute,
	}
}

// resolve returns c with every zero field replaced by its default, or an
// error naming the first invalid field and its allowed range.
func (c Config) resolve() (Config, error) {
	d := DefaultConfig()
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.Concurrency = cmp.Or(c.Concurrency, d.Concurrency)
	c.PollInterval = cmp.Or(c.PollInterval, d.PollInterval)
	c.Lease = cmp.Or(c.Lease, d.Lease)
	if c.PublishTimeout == 0 {
		c.PublishTimeout = d.PublishTimeout
		if c.Lease > 0 && c.Lease <= c.PublishTimeout {
			c.PublishTimeout = c.Lease / 10
		}
	}
	c.MaxAttempts = cmp.Or(c.MaxAttempts, d.MaxAttempts)
	c.Backoff = cmp.Or(c.Backoff, d.Backoff)
	c.MaxDelay = cmp.Or(c.MaxDelay, d.MaxDelay)
	c.CleanupInterval = cmp.Or(c.CleanupInterval, d.CleanupInterval)
	switch {
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return c, fmt.Errorf("outbox: Config.BatchSize must be 0 (meaning 100) or in [1, 10000], got %d", c.BatchSize)
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return c, fmt.Errorf("outbox: Config.Concurrency must be 0 (meaning 8) or in [1, 1024], got %d", c.Concurrency)
	case c.PollInterval < 0 || c.PollInterval > maxDuration:
		return c, fmt.Errorf("outbox: Config.PollInterval must be 0 (meaning 1s) or in (0, 24h], got %v", c.PollInterval)
	case c.Lease < 0 || c.Lease > maxDuration:
		return c, fmt.Errorf("outbox: Config.Lease must be 0 (meaning 1m0s) or in (0, 24h], got %v", c.Lease)
	case c.PublishTimeout != NoTimeout && (c.PublishTimeout <= 0 || c.PublishTimeout >= c.Lease):
		return c, fmt.Errorf("outbox: Config.PublishTimeout must be 0 (meaning 10s), outbox.NoTimeout or in (0, Lease = %v), got %v", c.Lease, c.PublishTimeout)
	case c.MaxAttempts != Unlimited && (c.MaxAttempts < 1 || c.MaxAttempts > 1e6):
		return c, fmt.Errorf("outbox: Config.MaxAttempts must be 0 (meaning 10), outbox.Unlimited or in [1, 1e6], got %d", c.MaxAttempts)
	case c.MaxDelay < 0 || c.MaxDelay > maxDuration:
		return c, fmt.Errorf("outbox: Config.MaxDelay must be 0 (meaning 1m0s) or in (0, 24h], got %v", c.MaxDelay)
	case c.Retention < 0 || c.Retention > 10*365*maxDuration:
		return c, fmt.Errorf("outbox: Config.Retention must be 0 (delete at once) or in (0, 87600h], got %v", c.Retention)
	case c.CleanupInterval < 0 || c.CleanupInterval > maxDuration:
		return c, fmt.Errorf("outbox: Config.CleanupInterval must be 0 (meaning 1m0s) or in (0, 24h], got %v", c.CleanupInterval)
	}
	if err := c.Backoff.Validate(); err != nil {
		return c, fmt.Errorf("outbox: Config.Backoff: %w", err)
	}
	return c, nil
}
