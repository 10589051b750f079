package cqrs

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// MaxNameLen bounds projection names and instance IDs, in bytes.
const MaxNameLen = 200

// Config configures a Projector. The zero value is the default
// configuration (see DefaultConfig): each field's zero value means the
// default its comment names.
type Config struct {
	// Name names the projector in its events.
	Name string
	// Observer receives the projector's events (Applied, EventFailed,
	// CaughtUp, Switched); nil reports none.
	Observer bulwark.Observer
	// InstanceID names this projector as the holder of the leases it
	// takes: unique among the processes sharing the checkpoint store, at
	// most MaxNameLen bytes of UTF-8 without NUL. Empty (the default)
	// picks a random one.
	InstanceID string
	// BatchSize is the most events applied in one transaction, and read
	// from the event store at a time; 0 means 100, else in [1, 10000].
	BatchSize int
	// PollInterval is how long an idle projection waits before reading
	// the log again when the store announces nothing new (see
	// eventsource.SubscriptionConfig.PollInterval); 0 means 1s, else in
	// (0, 24h].
	PollInterval time.Duration
	// LeaseDuration is how long a projection stays with the projector
	// running it after its last renewal. The holder renews it every
	// LeaseDuration/3 and the others try to take it at the same pace, so a
	// projection whose holder died runs again within about
	// 1.3 × LeaseDuration. Each commit checks the lease, so a holder that
	// lost it (paused, cut off) cannot apply an event again, whatever the
	// clocks say; the processes' clocks need to agree within a fraction of
	// LeaseDuration only for one projector to run the projection at a
	// time. 0 means 15s, else in [1ms, 24h].
	LeaseDuration time.Duration
	// MaxAttempts is how many times an event is tried (its batch counting
	// as the first) before the projection is parked, or the event skipped
	// (Projection.SkipFailed); 0 means 5, else in [1, 1000].
	MaxAttempts int
	// Backoff chooses the wait before each retry of a failing event
	// (counting its failed tries), and before each restart after the
	// checkpoint store or the event store failed (counting the failures in
	// a row; those never park a projection). Nil means
	// retry.Exponential{Initial: 100 * time.Millisecond, Jitter:
	// retry.FullJitter}.
	Backoff retry.Backoff
	// MaxDelay caps those waits; 0 means 30s, else in (0, 24h].
	MaxDelay time.Duration
	// WaitPollInterval is how often WaitFor reads the checkpoints of
	// projections this projector does not run; 0 means 50ms, else in
	// (0, 24h]. (For projections it runs, WaitFor returns as soon as the
	// batch commits.)
	WaitPollInterval time.Duration
	// Clock times leases, retries, polls and the checkpoints' times. Nil
	// uses clock.System.
	Clock clock.Clock
	// Logger receives lease changes (Info), failures (Warn) and parked
	// projections (Error). Nil uses slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the configuration the zero Config stands for,
// spelled out.
func DefaultConfig() Config {
	return Config{
		BatchSize:        100,
		PollInterval:     time.Second,
		LeaseDuration:    15 * time.Second,
		MaxAttempts:      5,
		Backoff:          retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:         30 * time.Second,
		WaitPollInterval: 50 * time.Millisecond,
		Clock:            clock.System,
		Logger:           slog.Default(),
	}
}

// maxWait bounds every duration setting: a day.
const maxWait = 24 * time.Hour

func (c *Config) validate() error {
	if c.InstanceID != "" {
		if err := checkText(c.InstanceID); err != nil {
			return fmt.Errorf("cqrs: Config.InstanceID %q: %v", c.InstanceID, err)
		}
	}
	for _, err := range []error{
		checkInt("Config.BatchSize", c.BatchSize, 1, 10000, 100),
		checkInt("Config.MaxAttempts", c.MaxAttempts, 1, 1000, 5),
		checkDuration("Config.PollInterval", c.PollInterval, 1, time.Second),
		checkDuration("Config.LeaseDuration", c.LeaseDuration, time.Millisecond, 15*time.Second),
		checkDuration("Config.MaxDelay", c.MaxDelay, 1, 30*time.Second),
		checkDuration("Config.WaitPollInterval", c.WaitPollInterval, 1, 50*time.Millisecond),
	} {
		if err != nil {
			return err
		}
	}
	if c.Backoff != nil {
		if err := c.Backoff.Validate(); err != nil {
			return fmt.Errorf("cqrs: Config.Backoff: %w", err)
		}
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.PollInterval = cmp.Or(c.PollInterval, d.PollInterval)
	c.LeaseDuration = cmp.Or(c.LeaseDuration, d.LeaseDuration)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, d.MaxAttempts)
	c.Backoff = cmp.Or(c.Backoff, d.Backoff)
	c.MaxDelay = cmp.Or(c.MaxDelay, d.MaxDelay)
	c.WaitPollInterval = cmp.Or(c.WaitPollInterval, d.WaitPollInterval)
	c.Clock = clock.OrSystem(c.Clock)
	c.Logger = cmp.Or(c.Logger, d.Logger)
	return c
}

// checkInt returns an error unless v is 0 (the default, def) or in [lo, hi].
func checkInt(field string, v, lo, hi, def int) error {
	if v != 0 && (v < lo || v > hi) {
		return fmt.Errorf("cqrs: %s must be 0 (meaning %d) or in [%d, %d], got %d", field, def, lo, hi, v)
	}
	return nil
}

// checkDuration returns an error unless d is 0 (the default, def) or in
// [lo, 24h].
func checkDuration(field string, d, lo, def time.Duration) error {
	if d != 0 && (d < lo || d > maxWait) {
		low := "(0"
		if lo > 1 {
			low = "[" + lo.String()
		}
		return fmt.Errorf("cqrs: %s must be 0 (meaning %v) or in %s, %v], got %v", field, def, low, maxWait, d)
	}
	return nil
}

// checkProjections returns an error naming the first invalid projection.
func checkProjections[Tx any](projections []Projection[Tx]) error {
	if len(projections) == 0 {
		return errors.New("cqrs: New needs at least one projection (projections is empty)")
	}
	seen := map[string]bool{}
	for i, p := range projections {
		where := fmt.Sprintf("cqrs: projections[%d]", i)
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
