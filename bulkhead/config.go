package bulkhead

import (
	"fmt"
	"math"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Bulkhead, and each key of a Keyed bulkhead.
type Config struct {
	// MaxConcurrent is the most calls that run at once (> 0): the limit of
	// a fixed bulkhead, or the ceiling an Adaptive limit never exceeds.
	MaxConcurrent int
	// MaxWaiting is how many callers may wait for a permit when all are
	// taken (>= 0). Zero, the default, rejects a call at once with ErrFull
	// when no permit is free. Waiters are served first come, first served.
	MaxWaiting int
	// MaxWait is the longest a caller waits for a permit before it is
	// rejected with ErrFull (> 0 when MaxWaiting > 0, else 0). A caller's
	// ctx can end the wait sooner.
	MaxWait time.Duration
	// Adaptive, when set, makes the limit adapt to the latency of the calls
	// the bulkhead admits, between the algorithm's MinLimit and
	// MaxConcurrent: AIMD or Gradient. Nil, the default, keeps the limit
	// fixed at MaxConcurrent and keeps clock reads off the call path.
	Adaptive Adaptive
	// Overloaded reports whether a call's error is a sign that the
	// dependency is overloaded, which makes an Adaptive limit back off at
	// once. Nil means errors matching context.DeadlineExceeded. Other errors
	// (and panics) teach the limit nothing: a fast failure says little about
	// load. Used only with Adaptive.
	Overloaded func(error) bool
	// Clock is the time source of MaxWait and of Adaptive's latency
	// measurements; nil means clock.System.
	Clock clock.Clock
	// OnFull, when set, is called for each call rejected with ErrFull, with
	// its key ("" for a Bulkhead). It runs on the caller's goroutine,
	// outside any lock.
	OnFull func(key string)
	// OnLimitChange, when set, is called when an Adaptive limit changes,
	// with the key ("" for a Bulkhead) and the old and new limits. It runs
	// on the goroutine of the call whose completion changed the limit,
	// outside any lock.
	OnLimitChange func(key string, from, to int)
}

// DefaultConfig returns a fixed bulkhead of 25 concurrent calls that rejects
// at once when full.
func DefaultConfig() Config {
	return Config{MaxConcurrent: 25}
}

// maxCount bounds MaxConcurrent and MaxWaiting: each is kept in 32 bits.
const maxCount = math.MaxInt32

func (c Config) validate(prefix string) error {
	if c.MaxConcurrent <= 0 || c.MaxConcurrent > maxCount {
		return fmt.Errorf("%s.MaxConcurrent must be in [1, %d], got %d", prefix, maxCount, c.MaxConcurrent)
	}
	if c.MaxWaiting < 0 || c.MaxWaiting > maxCount {
		return fmt.Errorf("%s.MaxWaiting must be in [0, %d], got %d", prefix, maxCount, c.MaxWaiting)
	}
	switch {
	case c.MaxWait < 0:
		return fmt.Errorf("%s.MaxWait must be >= 0, got %v", prefix, c.MaxWait)
	case c.MaxWaiting > 0 && c.MaxWait == 0:
		return fmt.Errorf("%s.MaxWait must be > 0 when MaxWaiting is %d: waiting callers need a bound on their wait", prefix, c.MaxWaiting)
	case c.MaxWaiting == 0 && c.MaxWait > 0:
		return fmt.Errorf("%s.MaxWait must be 0 when MaxWaiting is 0 (nobody waits), got %v", prefix, c.MaxWait)
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
