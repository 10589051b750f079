package saga

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// Unlimited, as Config.RetriableAttempts, tries a retriable step until it
// succeeds. It is that field's default.
const Unlimited = -1

// Config configures an Orchestrator. The zero Config is the default
// configuration: every zero field means the default its comment names, and
// DefaultConfig returns the same values spelled out. Set only what you
// change.
type Config struct {
	// Name names the orchestrator in the events it reports (their
	// Component). Empty means the Definition's Name.
	Name string
	// Observer receives the events the orchestrator reports (see
	// events.go); nil reports nothing and costs nothing.
	Observer bulwark.Observer
	// InstanceID names this orchestrator instance as the owner of the
	// leases it holds. Empty means a random ID, new for every New.
	InstanceID string
	// LeaseDuration is how long a saga stays with the instance driving it
	// without news from that instance; every transition, and a renewal
	// every LeaseDuration/3 while the instance drives sagas, extend it.
	// When an instance dies, other instances take its sagas over this long
	// after its last renewal. It must exceed the clock skew between
	// instances. Zero means 30s; otherwise in [1ms, 24h].
	LeaseDuration time.Duration
	// PollInterval is how often Run looks for sagas to take over. Zero
	// means 5s; otherwise in [1ms, 24h].
	PollInterval time.Duration
	// Concurrency is how many taken-over sagas one Run or Recover drives
	// at once. Zero means 16; otherwise in [1, 10000].
	Concurrency int
	// CompensationAttempts is how many times a compensation is tried (each
	// try through the step's Policy) before the saga needs attention. Zero
	// means 10; otherwise in [1, 1e6].
	CompensationAttempts int
	// RetriableAttempts is how many times a retriable step is tried before
	// the saga needs attention. Zero means Unlimited (until it succeeds);
	// otherwise Unlimited or in [1, 1e6].
	RetriableAttempts int
	// Backoff chooses the wait before each further try of a compensation or
	// a retriable step (the orchestrator's own tries, not those of the
	// step's Policy). Nil means retry.Exponential{Initial: 100ms,
	// Multiplier: 2, Jitter: retry.EqualJitter}: 100ms doubling, each wait
	// between half and all of that. It must pass its Validate.
	Backoff retry.Backoff
	// MaxDelay caps every wait Backoff chooses. Zero means 30s; otherwise
	// in [1ns, 24h].
	MaxDelay time.Duration
	// Clock is the time source of leases, deadlines, timeouts and waits;
	// nil means clock.System.
	Clock clock.Clock
	// Logger receives what no caller can be told: sagas that need
	// attention, store errors of background work, panicking steps. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// The defaults a zero Config field stands for.
const (
	defaultLeaseDuration        = 30 * time.Second
	defaultPollInterval         = 5 * time.Second
	defaultConcurrency          = 16
	defaultCompensationAttempts = 10
	defaultMaxDelay             = 30 * time.Second
)

func defaultBackoff() retry.Backoff {
	return retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.EqualJitter}
}

// DefaultConfig returns the defaults that the zero Config stands for,
// spelled out: leases of 30s, a look for sagas to take over every 5s, 16
// taken-over sagas driven at once, 10 tries of a compensation, retriable
// steps tried until they succeed, waits between tries from 100ms doubling
// up to 30s (each between half and all of that), the system clock and
// slog.Default(). Name (the Definition's), Observer (none) and InstanceID
// (random) stay empty.
func DefaultConfig() Config {
	return Config{
		LeaseDuration:        defaultLeaseDuration,
		PollInterval:         defaultPollInterval,
		Concurrency:          defaultConcurrency,
		CompensationAttempts: defaultCompensationAttempts,
		RetriableAttempts:    Unlimited,
		Backoff:              defaultBackoff(),
		MaxDelay:             defaultMaxDelay,
		Clock:                clock.System,
		Logger:               slog.Default(),
	}
}

// resolve returns c with every zero field set to its default, or an error
// naming the first invalid field.
func (c Config) resolve() (Config, error) {
	const day = 24 * time.Hour
	for _, err := range []error{
		orDefault("LeaseDuration", &c.LeaseDuration, defaultLeaseDuration, time.Millisecond, day),
		orDefault("PollInterval", &c.PollInterval, defaultPollInterval, time.Millisecond, day),
		orDefault("MaxDelay", &c.MaxDelay, defaultMaxDelay, time.Nanosecond, day),
		orDefault("Concurrency", &c.Concurrency, defaultConcurrency, 1, 10000),
		orDefault("CompensationAttempts", &c.CompensationAttempts, defaultCompensationAttempts, 1, 1e6),
	} {
		if err != nil {
			return c, err
		}
	}
	switch {
	case c.RetriableAttempts == 0:
		c.RetriableAttempts = Unlimited
	case c.RetriableAttempts != Unlimited && (c.RetriableAttempts < 1 || c.RetriableAttempts > 1e6):
		return c, fmt.Errorf("saga: Config.RetriableAttempts must be 0 or saga.Unlimited (until it succeeds) or in [1, 1000000], got %d", c.RetriableAttempts)
	}
	if c.Backoff == nil {
		c.Backoff = defaultBackoff()
	} else if err := c.Backoff.Validate(); err != nil {
		return c, fmt.Errorf("saga: Config.Backoff: %w", err)
	}
	c.Clock = clock.OrSystem(c.Clock)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c, nil
}

// orDefault sets a zero *v to def, and rejects a value outside [lo, hi].
func orDefault[N int | time.Duration](field string, v *N, def, lo, hi N) error {
	switch {
	case *v == 0:
		*v = def
	case *v < lo || *v > hi:
		return fmt.Errorf("saga: Config.%s must be 0 (meaning %v) or in [%v, %v], got %v", field, def, lo, hi, *v)
	}
	return nil
}
