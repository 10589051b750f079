package ratelimit

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Limiter, and each key of a Keyed limiter. The zero
// Config is DefaultConfig: every field left at zero takes the default its
// comment names. New rejects a setting outside its range with an error
// naming it; nothing is clamped.
type Config struct {
	// Name is the Component of the limiter's events. Optional.
	Name string
	// Observer receives the limiter's events (Rejected). Nil, the default,
	// observes nothing and costs nothing.
	Observer bulwark.Observer
	// Algorithm is how calls are counted: TokenBucket (the default) or
	// SlidingWindow.
	Algorithm Algorithm
	// Limit is the number of calls permitted per Period, in [1, 2³¹-1]; 0
	// means 100.
	Limit int
	// Period is the time Limit applies to, at least Limit nanoseconds (one
	// call per nanosecond at most) and at most 366 days; 0 means a second.
	Period time.Duration
	// Burst is, for TokenBucket, the most calls permitted at once after a
	// quiet spell, at least 1; 0 means Limit, a whole Period's worth.
	// SlidingWindow takes no burst and requires 0.
	Burst int
	// MaxWait is how long Wait and Do wait for a permit before rejecting the
	// call, in [0, 24h]. Zero, the default, is reject mode: a call over the
	// limit is rejected at once. A call whose permit would come later than
	// MaxWait, or after its ctx's deadline, is rejected at once rather than
	// after waiting in vain. Allow never waits.
	MaxWait time.Duration
	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
}

// The defaults of zero fields, and the bounds of the settings.
const (
	defaultLimit   = 100
	defaultPeriod  = time.Second
	defaultMaxKeys = 10_000
	maxCount       = math.MaxInt32 // Limit, Burst, MaxKeys
	maxPeriod      = 366 * 24 * time.Hour
	maxWait        = 24 * time.Hour
)

// DefaultConfig returns the defaults a zero Config stands for: a token
// bucket of 100 calls per second with a burst of 100, in reject mode.
func DefaultConfig() Config {
	return Config{
		Algorithm: TokenBucket,
		Limit:     defaultLimit,
		Period:    defaultPeriod,
		Burst:     defaultLimit,
	}
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Limit = cmp.Or(c.Limit, defaultLimit)
	c.Period = cmp.Or(c.Period, defaultPeriod)
	if c.Burst == 0 && c.Algorithm == TokenBucket {
		c.Burst = c.Limit
	}
	return c
}

// rule validates a configuration withDefaults has filled in and returns
// the rule it describes. prefix names the configuration in errors.
func (c Config) rule(prefix string) (Rule, error) {
	r := Rule{Algorithm: c.Algorithm, Limit: c.Limit, Period: c.Period, Burst: c.Burst}
	if err := r.validate(prefix); err != nil {
		return r, err
	}
	if c.MaxWait < 0 || c.MaxWait > maxWait {
		return r, fmt.Errorf("%s.MaxWait must be in [0, %v] (0 rejects at once), got %v", prefix, maxWait, c.MaxWait)
	}
	return r, nil
}
