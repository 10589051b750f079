package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Backoff chooses how long to wait before each retry. It is one of Constant,
// Exponential, Decorrelated or BackOff; the last brings any
// cenkalti/backoff BackOff, which is how to plug in a schedule of your own.
//
// Every Backoff is capped by Config.MaxDelay. The built-in ones keep no state
// between calls: they are safe to share, and choosing a delay allocates
// nothing.
type Backoff interface {
	validate() error
}

// schedule is a Backoff that keeps no per-call state: all but BackOff.
type schedule interface {
	// delay returns the wait before retry n (1 for the first retry). prev is
	// the wait it chose before retry n-1 (0 before the first) and limit is
	// Config.MaxDelay (0: no cap).
	delay(n int, prev, limit time.Duration) time.Duration
}

// Jitter says how Exponential randomises its delays. Randomising spreads the
// retries of many callers that failed together, so they do not return
// together.
type Jitter int

const (
	// NoJitter waits exactly Initial × Multiplier^(n-1) before retry n.
	NoJitter Jitter = iota
	// FullJitter waits a uniformly random time in [0, d), d being the
	// NoJitter delay: the least synchronised schedule, and the one that does
	// the least work in total under contention.
	FullJitter
	// EqualJitter waits d/2 plus a uniformly random time in [0, d/2): never
	// less than half the NoJitter delay.
	EqualJitter
)

func (j Jitter) String() string {
	switch j {
	case NoJitter:
		return "NoJitter"
	case FullJitter:
		return "FullJitter"
	case EqualJitter:
		return "EqualJitter"
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

// Constant waits the same Delay before every retry. A zero Delay retries at
// once.
type Constant struct {
	Delay time.Duration
}

func (c Constant) delay(_ int, _, limit time.Duration) time.Duration {
	return capped(c.Delay, limit)
}

func (c Constant) validate() error {
	if c.Delay < 0 {
		return fmt.Errorf("retry: Config.Backoff: Constant.Delay must be >= 0, got %v", c.Delay)
	}
	return nil
}

// Exponential waits Initial before the first retry and Multiplier times as
// long before each next one, capped by Config.MaxDelay before Jitter is
// applied (so FullJitter keeps spreading retries once the cap is reached).
type Exponential struct {
	// Initial is the delay before the first retry; it must be > 0.
	Initial time.Duration
	// Multiplier is the growth per retry, in [1, 100]; 0 means 2.
	Multiplier float64
	// Jitter randomises each delay; the zero value is NoJitter.
	Jitter Jitter
}

func (e Exponential) delay(n int, _, limit time.Duration) time.Duration {
	m := e.Multiplier
	if m == 0 {
		m = 2
	}
	f := float64(e.Initial) * math.Pow(m, float64(n-1))
	d := time.Duration(math.MaxInt64)
	if f < math.MaxInt64 {
		d = time.Duration(f)
	}
	d = capped(d, limit)
	switch e.Jitter {
	case FullJitter:
		return randomIn(0, d)
	case EqualJitter:
		return d/2 + randomIn(0, d-d/2)
	}
	return d
}

func (e Exponential) validate() error {
	if e.Initial <= 0 {
		return fmt.Errorf("retry: Config.Backoff: Exponential.Initial must be > 0, got %v", e.Initial)
	}
	if e.Multiplier != 0 && (e.Multiplier < 1 || e.Multiplier > 100) {
		return fmt.Errorf("retry: Config.Backoff: Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got %v", e.Multiplier)
	}
	if e.Jitter < NoJitter || e.Jitter > EqualJitter {
		return fmt.Errorf("retry: Config.Backoff: Exponential.Jitter must be NoJitter, FullJitter or EqualJitter, got %v", e.Jitter)
	}
	return nil
}

// Decorrelated is "decorrelated jitter": each delay is uniformly random in
// [Base, 3 × the previous delay), capped by Config.MaxDelay, starting from
// [Base, 3 × Base). Delays grow about as fast as Exponential's but each
// caller's schedule wanders on its own, which breaks up callers that failed
// together.
type Decorrelated struct {
	// Base is the shortest delay; it must be > 0.
	Base time.Duration
}

func (d Decorrelated) delay(_ int, prev, limit time.Duration) time.Duration {
	hi := time.Duration(math.MaxInt64)
	if p := max(prev, d.Base); p < math.MaxInt64/3 {
		hi = 3 * p
	}
	return capped(randomIn(d.Base, hi), limit)
}

func (d Decorrelated) validate() error {
	if d.Base <= 0 {
		return fmt.Errorf("retry: Config.Backoff: Decorrelated.Base must be > 0, got %v", d.Base)
	}
	return nil
}

// BackOff uses a cenkalti/backoff BackOff. New is called once per call that
// needs a retry (never on a first-attempt success), since a BackOff keeps
// per-call state; the BackOff it returns is Reset before use. When it returns
// backoff.Stop the call gives up with ErrBackoffStopped.
type BackOff struct {
	New func() backoff.BackOff
}

func (b BackOff) validate() error {
	if b.New == nil {
		return fmt.Errorf("retry: Config.Backoff: BackOff.New must not be nil")
	}
	return nil
}

// capped returns d, or limit when limit > 0 and d exceeds it.
func capped(d, limit time.Duration) time.Duration {
	if limit > 0 && d > limit {
		return limit
	}
	return d
}

// randomIn returns a uniformly random duration in [lo, hi), or lo when the
// range is empty.
func randomIn(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rand.Int64N(int64(hi-lo)))
}
