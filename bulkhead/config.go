package bulkhead

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Bulkhead, and each key of a Keyed bulkhead. The zero
// Config is DefaultConfig: every field left at zero takes the default its
// comment names. New rejects a setting outside its range with an error
// naming it; nothing is clamped.
type Config struct {
	// Name is the Component of the bulkhead's events. Optional.
	Name string
	// Observer receives the bulkhead's events (Rejected, LimitChanged).
	// Nil, the default, observes nothing and costs nothing.
	Observer bulwark.Observer
	// MaxConcurrent is the most calls that run at once: the limit of a
	// fixed bulkhead, or the ceiling an Adaptive limit never exceeds. In
	// [1, 2³¹-1]; 0 means 25.
	MaxConcurrent int
	// MaxWaiting is how many callers may wait for a permit when all are
	// taken, in [0, 2³¹-1]. Zero, the default, rejects a call at once with
	// ErrFull when no permit is free. Waiters are served first come, first
	// served.
	MaxWaiting int
	// MaxWait is the longest a caller waits for a permit before it is
	// rejected with ErrFull, when MaxWaiting lets callers wait: > 0; 0
	// means 100 milliseconds. A caller's ctx can end the wait sooner.
	MaxWait time.Duration
	// Adaptive, when set, makes the limit adapt to the latency of the calls
	// the bulkhead admits, between the algorithm's MinLimit and
	// MaxConcurrent: AIMD or Gradient, whose zero values are their
	// defaults. Nil, the default, keeps the limit fixed at MaxConcurrent and
	// keeps clock reads off the call path.
	Adaptive Adaptive
	// Overloaded reports whether a call's error is a sign that the
	// dependency is overloaded, which makes an Adaptive limit back off at
	// once. Nil, the default, means errors matching
	// context.DeadlineExceeded. Other errors (and panics) teach the limit
	// nothing: a fast failure says little about load. Used only with
	// Adaptive.
	Overloaded func(error) bool
	// Clock is the time source of MaxWait and of Adaptive's latency
	// measurements; nil means clock.System.
	Clock clock.Clock
}

// The defaults of zero fields.
const (
	defaultMaxConcurrent = 25
	defaultMaxWait       = 100 * time.Millisecond
	defaultMaxIdleKeys   = 1000
)

// DefaultConfig returns the defaults a zero Config stands for: a fixed
// bulkhead of 25 concurrent calls that rejects at once when full (and
// would let a caller wait 100 milliseconds if MaxWaiting let it wait).
func DefaultConfig() Config {
	return Config{MaxConcurrent: defaultMaxConcurrent, MaxWait: defaultMaxWait}
}

// maxCount bounds MaxConcurrent, MaxWaiting and the other counts: each is
// kept in 32 bits.
const maxCount = math.MaxInt32

// withDefaults returns c with its zero fields set to their defaults,
// Adaptive's included.
func (c Config) withDefaults() Config {
	c.MaxConcurrent = cmp.Or(c.MaxConcurrent, defaultMaxConcurrent)
	c.MaxWait = cmp.Or(c.MaxWait, defaultMaxWait)
	if a, ok := adaptiveValue(c.Adaptive); ok && a != nil {
		c.Adaptive = a.withDefaults(c.MaxConcurrent)
	}
	return c
}

// validate checks a Config withDefaults has filled in. prefix names it in
// errors ("bulkhead: Config").
func (c Config) validate(prefix string) error {
	if c.MaxConcurrent < 1 || c.MaxConcurrent > maxCount {
		return fmt.Errorf("%s.MaxConcurrent must be in [1, %d] (0 means %d), got %d", prefix, maxCount, defaultMaxConcurrent, c.MaxConcurrent)
	}
	if c.MaxWaiting < 0 || c.MaxWaiting > maxCount {
		return fmt.Errorf("%s.MaxWaiting must be in [0, %d], got %d", prefix, maxCount, c.MaxWaiting)
	}
	if c.MaxWait < 0 {
		return fmt.Errorf("%s.MaxWait must be > 0 (0 means %v), got %v", prefix, defaultMaxWait, c.MaxWait)
	}
	if _, ok := adaptiveValue(c.Adaptive); !ok {
		return fmt.Errorf("%s.Adaptive must not be a nil %T", prefix, c.Adaptive)
	}
	if c.Adaptive != nil {
		if err := c.Adaptive.validate(c.MaxConcurrent); err != nil {
			return fmt.Errorf("%s.Adaptive: %w", prefix, err)
		}
	} else if c.Overloaded != nil {
		return fmt.Errorf("%s.Overloaded is used only with Adaptive, which is nil", prefix)
	}
	return nil
}
