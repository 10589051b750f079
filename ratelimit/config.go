package ratelimit

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Limiter, and each key of a Keyed limiter.
type Config struct {
	// Algorithm is how calls are counted: TokenBucket (the default) or
	// SlidingWindow.
	Algorithm Algorithm
	// Limit is the number of calls permitted per Period (> 0).
	Limit int
	// Period is the time Limit applies to (> 0, and at least Limit
	// nanoseconds).
	Period time.Duration
	// Burst is, for TokenBucket, the most calls permitted at once after a
	// quiet spell (>= 0); 0 means Limit, a whole Period's worth.
	// SlidingWindow takes no burst and requires 0.
	Burst int
	// MaxWait is how long Wait and Do wait for a permit before rejecting the
	// call (>= 0). Zero, the default, is reject mode: a call over the limit
	// is rejected at once. A call whose permit would come later than MaxWait,
	// or after its ctx's deadline, is rejected at once rather than after
	// waiting in vain. Allow never waits.
	MaxWait time.Duration
	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
	// OnLimited, when set, is called for each rejected call with the key
	// ("" for a Limiter) and the rejection's RetryAfter. It runs on the
	// caller's goroutine, outside any lock.
	OnLimited func(key string, retryAfter time.Duration)
}

// DefaultConfig returns a token bucket of 100 calls per second with a burst
// of 100, in reject mode.
func DefaultConfig() Config {
	return Config{
		Algorithm: TokenBucket,
		Limit:     100,
		Period:    time.Second,
	}
}

// rule validates the configuration and returns the rule it describes.
func (c Config) rule(prefix string) (Rule, error) {
	r := Rule{Algorithm: c.Algorithm, Limit: c.Limit, Period: c.Period, Burst: c.Burst}
	if c.Burst < 0 {
		return r, fmt.Errorf("%s.Burst must be >= 0 (0 means Limit), got %d", prefix, c.Burst)
	}
	if c.Algorithm == TokenBucket && c.Burst == 0 {
		r.Burst = c.Limit
	}
	if err := r.validate(prefix); err != nil {
		return r, err
	}
	if c.MaxWait < 0 {
		return r, fmt.Errorf("%s.MaxWait must be >= 0 (0 rejects at once), got %v", prefix, c.MaxWait)
	}
	return r, nil
}
