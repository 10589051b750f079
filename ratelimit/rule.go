package ratelimit

import (
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Algorithm is the way a limiter counts calls against its limit.
type Algorithm int

const (
	// TokenBucket permits Limit calls per Period on average, and up to Burst
	// calls at once after a quiet spell: a bucket of Burst tokens refilled
	// at Limit per Period, one token per call. It is exact (implemented as
	// the generic cell rate algorithm, one timestamp of state per key) and
	// its hot path is a single compare-and-swap.
	TokenBucket Algorithm = iota
	// SlidingWindow permits at most Limit calls in any Period, estimated from
	// the count of the current fixed window plus the previous window's
	// count weighted by how much of it the sliding window still covers.
	// Fixed windows start at multiples of Period since the Unix epoch, so
	// every store and process agrees on them. The
	// estimate is exact when calls are spread evenly; calls bunched at the
	// end of the previous window are under-weighted, so a true sliding
	// window can see more than Limit. It keeps two counters per key.
	SlidingWindow
)

// String returns the constant's name.
func (a Algorithm) String() string {
	switch a {
	case TokenBucket:
		return "TokenBucket"
	case SlidingWindow:
		return "SlidingWindow"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// Rule is what a limit allows, in the form a Store applies it. Limiters
// build it from their Config; Store implementations receive it with every
// call.
type Rule struct {
	// Algorithm is how calls are counted.
	Algorithm Algorithm
	// Limit is the number of calls permitted per Period (> 0).
	Limit int
	// Period is the time Limit applies to (> 0).
	Period time.Duration
	// Burst is, for TokenBucket, the most calls permitted at once (> 0).
	// It is 0 for SlidingWindow.
	Burst int
}

// interval returns the time a TokenBucket takes to refill one token, rounded
// up so that the rate never exceeds Limit per Period.
func (r Rule) interval() int64 {
	return (int64(r.Period) + int64(r.Limit) - 1) / int64(r.Limit)
}

// tolerance returns how far ahead of now a TokenBucket's theoretical arrival
// time may run: Burst intervals.
func (r Rule) tolerance() int64 { return int64(r.Burst) * r.interval() }

// validate checks a rule built from a Config whose zero fields took their
// defaults; its errors name the Config's fields.
func (r Rule) validate(prefix string) error {
	if r.Algorithm != TokenBucket && r.Algorithm != SlidingWindow {
		return fmt.Errorf("%s.Algorithm must be TokenBucket or SlidingWindow, got %v", prefix, r.Algorithm)
	}
	if r.Limit < 1 || r.Limit > maxCount {
		return fmt.Errorf("%s.Limit must be in [1, %d] (0 means %d), got %d", prefix, maxCount, defaultLimit, r.Limit)
	}
	if r.Period <= 0 || r.Period > maxPeriod {
		return fmt.Errorf("%s.Period must be in (0, %v] (0 means %v), got %v", prefix, maxPeriod, defaultPeriod, r.Period)
	}
	if int64(r.Period) < int64(r.Limit) {
		return fmt.Errorf("%s.Period must be at least Limit nanoseconds (a rate of at most one call per nanosecond), got %v for Limit %d", prefix, r.Period, r.Limit)
	}
	switch r.Algorithm {
	case TokenBucket:
		if maxBurst := min(math.MaxInt64/4/r.interval(), maxCount); r.Burst < 1 || int64(r.Burst) > maxBurst {
			return fmt.Errorf("%s.Burst must be in [1, %d] for a Period of %v and Limit %d (0 means Limit), got %d", prefix, maxBurst, r.Period, r.Limit, r.Burst)
		}
	case SlidingWindow:
		if r.Burst != 0 {
			return fmt.Errorf("%s.Burst applies only to TokenBucket and must be 0 for SlidingWindow, got %d", prefix, r.Burst)
		}
	}
	return nil
}

// takeToken applies the generic cell rate algorithm, a token bucket kept as
// one timestamp: tat is the theoretical arrival time, when the bucket would
// be full again. A call at now is permitted when, after adding one interval,
// tat runs no more than Burst intervals ahead of now. It returns the new tat
// and 0, or the unchanged tat and the wait (> 0) until a call would fit.
func takeToken(tat, now, interval, tolerance int64) (newTat, wait int64) {
	newTat = max(tat, now) + interval
	if wait = newTat - now - tolerance; wait > 0 {
		return tat, wait
	}
	return newTat, 0
}

// window is the state of a SlidingWindow for one key: the start of the
// current fixed window and the counts of calls permitted in it and in the
// window before. The zero window is empty.
type window struct {
	start, prev, curr int64
}

// take counts a call at now against limit calls per period, or returns the
// wait (> 0) until one would fit without counting it.
func (w *window) take(now, period, limit int64) int64 {
	start := now - floorMod(now, period)
	switch {
	case start <= w.start:
		// The same window, or the clock went back: count the call in the
		// current window.
	case start-w.start <= period:
		// The next window. (With an unchanged period the distance is
		// exactly one period; after the period changed, a window that
		// began less than one period ago is the previous one too.)
		w.start, w.prev, w.curr = start, w.curr, 0
	default:
		w.start, w.prev, w.curr = start, 0, 0
	}
	elapsed := min(max(now-w.start, 0), period)
	if w.curr < limit && !exceeds(w.prev, period-elapsed, limit-w.curr-1, period) {
		w.curr++
		return 0
	}
	if w.curr >= limit {
		// The current window is full: wait for the next one, and in it until
		// this window's calls, then the previous one, weigh little enough.
		// In the next window, at offset e: curr*(period-e) + period <= limit*period.
		e := period - mulDiv(limit-1, period, w.curr)
		return w.start + period + e - now
	}
	// The current window has room but the previous one still weighs too
	// much: wait until prev*(period-e) <= (limit-curr-1)*period.
	e := period - mulDiv(limit-w.curr-1, period, w.prev)
	return max(w.start+e-now, 1)
}

// exceeds reports whether a*b > c*d, without overflow, for non-negative
// arguments.
func exceeds(a, b, c, d int64) bool {
	hi1, lo1 := bits.Mul64(uint64(a), uint64(b))
	hi2, lo2 := bits.Mul64(uint64(c), uint64(d))
	return hi1 > hi2 || hi1 == hi2 && lo1 > lo2
}

// mulDiv returns floor(a*b/c) for non-negative a, b and positive c whose
// quotient fits in an int64.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// timeBase reads times as nanoseconds since the Unix epoch: its base's
// wall-clock reading plus the monotonic time elapsed since base, so that a
// wall-clock step after base does not move a limiter's time.
type timeBase struct {
	base     time.Time
	baseUnix int64
}

func newTimeBase(base time.Time) timeBase { return timeBase{base, base.UnixNano()} }

func (b timeBase) unixNano(t time.Time) int64 { return b.baseUnix + int64(t.Sub(b.base)) }

// clockBase reads a clock.Clock as a timeBase does.
type clockBase struct {
	timeBase
	clock clock.Clock
	// system is set for clock.System, which is read with time.Since: the
	// monotonic clock alone costs about half of time.Now's two readings,
	// and a limiter reads it on every call.
	system bool
}

func newClockBase(c clock.Clock) clockBase {
	c = clock.OrSystem(c)
	return clockBase{timeBase: newTimeBase(c.Now()), clock: c, system: c == clock.System}
}

// now returns the clock's time in Unix nanoseconds.
func (b *clockBase) now() int64 {
	if b.system {
		return b.baseUnix + int64(time.Since(b.base))
	}
	return b.unixNano(b.clock.Now())
}

// time returns the clock's time.
func (b *clockBase) time() time.Time {
	if b.system {
		return b.base.Add(time.Since(b.base))
	}
	return b.clock.Now()
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
