package cqrs

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
)

// MaxNameLen bounds projection names and instance IDs, in bytes.
const MaxNameLen = 200

// Config configures a Projector whose checkpoint store has transactions of
// type Tx. Start from DefaultConfig.
type Config[Tx any] struct {
	// Events is the event store whose global log the projections read.
	// Required. With an eventsource.Listener (all of bulwark's stores) new
	// events are projected as soon as they are announced; with an
	// eventsource.HeadReader (all of bulwark's) Status reports each
	// projection's lag.
	Events eventsource.Store
	// Checkpoints keeps the projections' checkpoints and leases, and runs
	// their transactions. Required. For read models updated exactly once,
	// use a transactional store on the read models' database.
	Checkpoints Store[Tx]
	// Projections are the read models to build; at least one, with
	// distinct names.
	Projections []Projection[Tx]

	// InstanceID names this projector as the holder of the leases it
	// takes: unique among the processes sharing the checkpoint store, at
	// most MaxNameLen bytes. Empty picks a random one.
	InstanceID string
	// BatchSize is the most events applied in one transaction, and read
	// from the event store at a time; 1 to 10000. DefaultConfig sets 100.
	BatchSize int
	// PollInterval is how long an idle projection waits before reading
	// the log again when the store announces nothing new (see
	// eventsource.SubscriptionConfig.PollInterval); more than 0.
	// DefaultConfig sets 1s.
	PollInterval time.Duration
	// LeaseDuration is how long a projection stays with the projector
	// running it after its last renewal. The holder renews it every
	// LeaseDuration/3 and the others try to take it at the same pace, so a
	// projection whose holder died runs again within about
	// 1.3 × LeaseDuration. Each commit checks the lease, so a holder that
	// lost it (paused, cut off) cannot apply an event again, whatever the
	// clocks say; the processes' clocks need to agree within a fraction of
	// LeaseDuration only for one projector to run the projection at a
	// time. More than 0; DefaultConfig sets 15s.
	LeaseDuration time.Duration
	// MaxAttempts is how many times an event is tried (its batch counting
	// as the first) before the projection is parked, or the event skipped
	// (Projection.SkipFailed); at least 1. DefaultConfig sets 5.
	MaxAttempts int
	// RetryDelay is the wait before the second try of a failing event,
	// doubling with each try up to MaxRetryDelay. The same waits separate
	// restarts after the checkpoint store or the event store fails (those
	// failures never park a projection). RetryDelay more than 0,
	// MaxRetryDelay at least RetryDelay; DefaultConfig sets 100ms and 30s.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// WaitPollInterval is how often WaitFor reads the checkpoints of
	// projections this projector does not run; more than 0. DefaultConfig
	// sets 50ms. (For projections it runs, WaitFor returns as soon as the
	// batch commits.)
	WaitPollInterval time.Duration

	// OnApplied, if set, is called after each committed batch with the
	// new checkpoint and the number of events handled (0 when the batch
	// held only events of other types).
	OnApplied func(projection string, position int64, events int)
	// OnFailed, if set, is called after each failed try of an event, with
	// what happens next: before the wait for the next try, or once the
	// projection is parked or the event skipped.
	OnFailed func(projection string, f EventFailure)
	// OnCaughtUp, if set, is called when a projection has applied every
	// event the store can deliver so far and is about to wait for more:
	// first when it has caught up, then after each batch of live events.
	OnCaughtUp func(projection string, position int64)
	// OnSwitch, if set, is called when a new version of a projection has
	// caught up and become live, replacing version from (-1 for none):
	// the moment to drop the old version's tables.
	OnSwitch func(projection string, from, to int)

	// Clock times leases, retries, polls and the checkpoints' times. Nil
	// uses clock.System.
	Clock clock.Clock
	// Logger receives lease changes (Info), failures (Warn) and parked
	// projections (Error). Nil uses slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a configuration with the defaults above; set
// Events, Checkpoints and Projections.
func DefaultConfig[Tx any]() Config[Tx] {
	return Config[Tx]{
		BatchSize:        100,
		PollInterval:     time.Second,
		LeaseDuration:    15 * time.Second,
		MaxAttempts:      5,
		RetryDelay:       100 * time.Millisecond,
		MaxRetryDelay:    30 * time.Second,
		WaitPollInterval: 50 * time.Millisecond,
	}
}

func (c *Config[Tx]) validate() error {
	switch {
	case c.Events == nil:
		return errors.New("cqrs: Config.Events must be set")
	case c.Checkpoints == nil:
		return errors.New("cqrs: Config.Checkpoints must be set")
	case len(c.Projections) == 0:
		return errors.New("cqrs: Config.Projections must have at least one projection")
	case c.InstanceID != "" && checkText(c.InstanceID) != nil:
		return fmt.Errorf("cqrs: Config.InstanceID %q: %v", c.InstanceID, checkText(c.InstanceID))
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fmt.Errorf("cqrs: Config.BatchSize must be in [1, 10000], got %d", c.BatchSize)
	case c.PollInterval <= 0:
		return fmt.Errorf("cqrs: Config.PollInterval must be more than 0, got %v", c.PollInterval)
	case c.LeaseDuration <= 0:
		return fmt.Errorf("cqrs: Config.LeaseDuration must be more than 0, got %v", c.LeaseDuration)
	case c.MaxAttempts < 1:
		return fmt.Errorf("cqrs: Config.MaxAttempts must be at least 1, got %d", c.MaxAttempts)
	case c.RetryDelay <= 0:
		return fmt.Errorf("cqrs: Config.RetryDelay must be more than 0, got %v", c.RetryDelay)
	case c.MaxRetryDelay < c.RetryDelay:
		return fmt.Errorf("cqrs: Config.MaxRetryDelay must be at least RetryDelay (%v), got %v", c.RetryDelay, c.MaxRetryDelay)
	case c.WaitPollInterval <= 0:
		return fmt.Errorf("cqrs: Config.WaitPollInterval must be more than 0, got %v", c.WaitPollInterval)
	}
	seen := map[string]bool{}
	for i, p := range c.Projections {
		where := fmt.Sprintf("cqrs: Config.Projections[%d]", i)
		if err := checkText(p.Name); err != nil {
			return fmt.Errorf("%s.Name %q: %v", where, p.Name, err)
		}
		switch {
		case seen[p.Name]:
			return fmt.Errorf("%s.Name %q: another projection has that name", where, p.Name)
		case p.Version < 0:
			return fmt.Errorf("%s.Version must be 0 or more, got %d", where, p.Version)
		case p.Handle == nil:
			return fmt.Errorf("%s (%q).Handle must be set", where, p.Name)
		}
		for _, t := range p.Types {
			if t == "" {
				return fmt.Errorf("%s (%q).Types has an empty type name", where, p.Name)
			}
		}
		seen[p.Name] = true
	}
	return nil
}

// checkText reports what is wrong with a projection name or instance ID.
func checkText(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > MaxNameLen:
		return fmt.Errorf("is %d bytes long; at most %d", len(s), MaxNameLen)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case strings.IndexByte(s, 0) >= 0:
		return errors.New("contains a NUL byte")
	}
	return nil
}
