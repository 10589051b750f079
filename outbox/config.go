package outbox

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Relay. Start from DefaultConfig.
type Config struct {
	// BatchSize is the most messages one claim takes; 1 to 10000.
	BatchSize int
	// Concurrency is how many keys of a batch are published at once; 1 to
	// 1024. Messages of one key are always published one at a time.
	Concurrency int
	// PollInterval is how long the relay waits before looking for new
	// messages when its store cannot notify it (or a notification was
	// lost); more than 0.
	PollInterval time.Duration
	// PublishTimeout bounds each Publish call; 0 for none (the lease still
	// bounds the whole batch).
	PublishTimeout time.Duration
	// Lease is how long one batch may take, from claim to recorded outcome,
	// before the relay gives up publishing it and another relay may claim
	// its messages; more than PublishTimeout.
	Lease time.Duration
	// MaxAttempts is the number of failed publishes after which a message is
	// dead-lettered; 0 retries for ever.
	MaxAttempts int
	// RetryInitialInterval is the wait after a message's first failed
	// publish; it doubles with each further failure up to RetryMaxInterval.
	// Both more than 0, the first at most the second.
	RetryInitialInterval time.Duration
	// RetryMaxInterval caps the wait between publish attempts.
	RetryMaxInterval time.Duration
	// RetryJitter randomises each wait by up to this fraction either way,
	// so that messages failing together do not retry together; 0 to 1,
	// 0 for exact waits.
	RetryJitter float64
	// SkipDeadLetters lets the later messages of a key with a dead letter be
	// published. By default (false) a dead letter blocks its key until it is
	// replayed or discarded, so consumers never see a key's messages out of
	// order. With it set, a replayed dead letter is published after the
	// messages of its key that went ahead of it.
	SkipDeadLetters bool
	// Retention keeps published messages in the store for this long before
	// deleting them (for audit or replay); 0 deletes them as soon as they
	// are published.
	Retention time.Duration
	// CleanupInterval is how often the relay deletes messages older than
	// Retention; more than 0 when Retention is set.
	CleanupInterval time.Duration

	// OnPublished, when set, is called for each message after its
	// publication was recorded.
	OnPublished func(msg Message)
	// OnRetry, when set, is called for each failed publish that will be
	// retried, with the number of failed attempts so far and the earliest
	// time of the next one.
	OnRetry func(msg Message, attempts int, err error, retryAt time.Time)
	// OnDeadLetter, when set, is called for each message moved to the dead
	// letters, with its number of failed attempts and the last error.
	OnDeadLetter func(msg Message, attempts int, err error)

	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
	// Logger receives the relay's warnings (failed claims, lost
	// notification channels); nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a configuration suited to most services: batches of
// 100, 8 keys at once, a 1 s poll, 10 s publish timeout, 1 min lease,
// retries from 1 s doubling to 1 min with 20% jitter, dead-lettering after 10
// failed attempts, and published messages deleted at once.
func DefaultConfig() Config {
	return Config{
		BatchSize:            100,
		Concurrency:          8,
		PollInterval:         time.Second,
		PublishTimeout:       10 * time.Second,
		Lease:                time.Minute,
		MaxAttempts:          10,
		RetryInitialInterval: time.Second,
		RetryMaxInterval:     time.Minute,
		RetryJitter:          0.2,
		CleanupInterval:      time.Minute,
	}
}

func (c Config) validate() error {
	switch {
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fmt.Errorf("outbox: Config.BatchSize must be in [1, 10000], got %d", c.BatchSize)
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return fmt.Errorf("outbox: Config.Concurrency must be in [1, 1024], got %d", c.Concurrency)
	case c.PollInterval <= 0:
		return fmt.Errorf("outbox: Config.PollInterval must be more than 0, got %s", c.PollInterval)
	case c.PublishTimeout < 0:
		return fmt.Errorf("outbox: Config.PublishTimeout must be 0 (none) or more, got %s", c.PublishTimeout)
	case c.Lease <= c.PublishTimeout:
		return fmt.Errorf("outbox: Config.Lease must be more than PublishTimeout (%s), got %s", c.PublishTimeout, c.Lease)
	case c.MaxAttempts < 0:
		return fmt.Errorf("outbox: Config.MaxAttempts must be 0 (retry for ever) or more, got %d", c.MaxAttempts)
	case c.RetryInitialInterval <= 0:
		return fmt.Errorf("outbox: Config.RetryInitialInterval must be more than 0, got %s", c.RetryInitialInterval)
	case c.RetryMaxInterval < c.RetryInitialInterval:
		return fmt.Errorf("outbox: Config.RetryMaxInterval must be at least RetryInitialInterval (%s), got %s", c.RetryInitialInterval, c.RetryMaxInterval)
	case c.RetryJitter < 0 || c.RetryJitter > 1:
		return fmt.Errorf("outbox: Config.RetryJitter must be in [0, 1], got %g", c.RetryJitter)
	case c.Retention < 0:
		return fmt.Errorf("outbox: Config.Retention must be 0 (delete at once) or more, got %s", c.Retention)
	case c.Retention > 0 && c.CleanupInterval <= 0:
		return fmt.Errorf("outbox: Config.CleanupInterval must be more than 0 when Retention is set, got %s", c.CleanupInterval)
	}
	return nil
}
