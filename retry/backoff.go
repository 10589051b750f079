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
// Backoff is the one way every bulwark package that waits between tries is
// configured: the Retrier, the outbox relay's publish retries, saga
// recovery, projection retries. Constant, Exponential and Decorrelated keep
// no state between calls: they are safe to share, and choosing a delay
// allocates nothing.
type Backoff interface {
	// Wait returns the wait before retry n (1 for the first retry). prev
	// is the wait chosen before retry n-1 (0 before the first, or when the
	// caller keeps no history), and limit, when > 0, caps the result.
	Wait(n int, prev, limit time.Duration) time.Duration
	// Validate returns an error naming the first invalid setting.
	Validate() error
}

// Jitter says how Exponential randomises its delays. Randomising spreads the
// retries of many callers that failed together, so they do not return
// together. The zero Jitter is FullJitter.
type Jitter int

const (
	// FullJitter waits a uniformly random time in [0, d), d being the
	// NoJitter delay: the least synchronised schedule, and the one that does
	// the least work in total under contention. It is the zero Jitter.
	FullJitter Jitter = iota
	// NoJitter waits exactly Initial × Multiplier^(n-1) before retry n.
	NoJitter
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

// The defaults of the backoffs' zero fields.
const (
	// DefaultInitial is Exponential's Initial when it is 0.
	DefaultInitial = 100 * time.Millisecond
	// DefaultMultiplier is Exponential's Multiplier when it is 0.
	DefaultMultiplier = 2.0
	// DefaultBase is Decorrelated's Base when it is 0.
	DefaultBase = 100 * time.Millisecond
)

// Constant waits the same Delay before every retry. A zero Delay retries at
// once.
type Constant struct {
	// Delay is the wait before each retry, >= 0; 0 retries at once.
	Delay time.Duration
}

// Wait returns Delay, capped by limit when limit > 0.
func (c Constant) Wait(_ int, _, limit time.Duration) time.Duration {
	return capped(c.Delay, limit)
}

// Validate rejects a negative Delay.
func (c Constant) Validate() error {
	if c.Delay < 0 {
		return fmt.Errorf("Constant.Delay must be >= 0, got %v", c.Delay)
	}
	return nil
}

// Exponential waits Initial before the first retry and Multiplier times as
// long before each next one, capped by the limit (a Retrier's
// Config.MaxDelay) before Jitter is applied, so FullJitter keeps spreading
// retries once the cap is reached. The growth saturates: however many
// retries, a delay never wraps around.
//
// Its zero value is the default schedule: Initial 100ms, Multiplier 2,
// FullJitter.
type Exponential struct {
	// Initial is the delay before the first retry, >= 0; 0 means
	// DefaultInitial (100ms).
	Initial time.Duration
	// Multiplier is the growth per retry: 0 means DefaultMultiplier (2),
	// otherwise in [1, 100]. NaN and ±Inf are invalid.
	Multiplier float64
	// Jitter randomises each delay; the zero value is FullJitter.
	Jitter Jitter
}

// Wait returns the delay before retry n (n < 1 reads as 1), capped by limit
// when limit > 0, with Jitter applied.
func (e Exponential) Wait(n int, _, limit time.Duration) time.Duration {
	initial, m := e.Initial, e.Multiplier
	if initial == 0 {
		initial = DefaultInitial
	}
	if m == 0 {
		m = DefaultMultiplier
	}
	f := float64(initial) * math.Pow(m, float64(max(n, 1)-1))
	d := time.Duration(math.MaxInt64)
	if f < math.MaxInt64 { // false for +Inf and NaN too: saturate
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

// Validate returns an error naming the first invalid field.
func (e Exponential) Validate() error {
	if e.Initial < 0 {
		return fmt.Errorf("Exponential.Initial must be >= 0 (0 means %v), got %v", DefaultInitial, e.Initial)
	}
	// Written so that NaN fails: every comparison with NaN is false.
	if !(e.Multiplier == 0 || (e.Multiplier >= 1 && e.Multiplier <= 100)) {
		return fmt.Errorf("Exponential.Multiplier must be 0 (meaning 2) or in [1, 100], got %v", e.Multiplier)
	}
	if e.Jitter < FullJitter || e.Jitter > EqualJitter {
		return fmt.Errorf("Exponential.Jitter must be FullJitter, NoJitter or EqualJitter, got %v", e.Jitter)
	}
	return nil
}

// Decorrelated is "decorrelated jitter": each delay is uniformly random in
// [Base, 3 × the previous delay), capped by the limit (a Retrier's
// Config.MaxDelay), starting from [Base, 3 × Base). Delays grow about as
// fast as Exponential's but each caller's schedule wanders on its own, which
// breaks up callers that failed together. Its zero value has Base 100ms.
type Decorrelated struct {
	// Base is the shortest delay, >= 0; 0 means DefaultBase (100ms).
	Base time.Duration
}

// Wait returns a random delay in [Base, 3 × max(prev, Base)), capped by
// limit when limit > 0.
func (d Decorrelated) Wait(_ int, prev, limit time.Duration) time.Duration {
	base := d.Base
	if base == 0 {
		base = DefaultBase
	}
	hi := time.Duration(math.MaxInt64)
	if p := max(prev, base); p < math.MaxInt64/3 {
		hi = 3 * p
	}
	return capped(randomIn(base, hi), limit)
}

// Validate rejects a negative Base.
func (d Decorrelated) Validate() error {
	if d.Base < 0 {
		return fmt.Errorf("Decorrelated.Base must be >= 0 (0 means %v), got %v", DefaultBase, d.Base)
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

// Wait returns the n-th wait of a fresh BackOff from New, stepping it n
// times (so it costs O(n); the Retrier keeps one BackOff per call instead).
// A BackOff that stops before its n-th wait yields limit, or, with no limit,
// the last wait it gave (0 if none).
func (b BackOff) Wait(n int, _, limit time.Duration) time.Duration {
	bo := b.New()
	bo.Reset()
	var last time.Duration
	for range max(n, 1) {
		d := bo.NextBackOff()
		if d == backoff.Stop {
			if limit > 0 {
				return limit
			}
			return last
		}
		last = d
	}
	return capped(last, limit)
}

// Validate rejects a nil New.
func (b BackOff) Validate() error {
	if b.New == nil {
		return fmt.Errorf("BackOff.New must not be nil")
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
