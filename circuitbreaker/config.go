package circuitbreaker

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Breaker. Start from DefaultConfig and change what you
// need; New rejects any setting outside its documented range with an error
// that names it. The package documentation explains how to pick values.
type Config struct {
	// Name identifies the breaker in its errors ("circuitbreaker: inventory
	// is open"). Optional.
	Name string

	// Window is the sliding window of recent calls the failure and slow-call
	// rates are computed over: LastCalls(n) or LastDuration(d, buckets).
	// Required.
	Window Window

	// FailureRateThreshold is the failure rate, in percent of the calls in
	// the window, at or above which the breaker opens. In (0, 100].
	FailureRateThreshold float64

	// MinimumCalls is the number of calls the window must hold before a
	// rate can open the breaker, so that one failure out of two calls does
	// not read as 50%. At least 1, and at most n for LastCalls(n).
	MinimumCalls int

	// ConsecutiveFailures opens the breaker after this many failures in a
	// row, whatever the window holds and regardless of MinimumCalls. Useful
	// on low-traffic dependencies. 0 turns it off.
	ConsecutiveFailures int

	// SlowCallDuration marks a call that takes at least this long as slow,
	// whether it succeeds or fails. 0 turns slow-call detection off.
	SlowCallDuration time.Duration

	// SlowCallRateThreshold is the slow-call rate, in percent of the calls in
	// the window, at or above which the breaker opens. In (0, 100] when
	// SlowCallDuration is set, 0 otherwise.
	SlowCallRateThreshold float64

	// OpenWait is how long the breaker stays open after it first trips before
	// it lets probe calls through. Greater than 0.
	OpenWait time.Duration

	// OpenWaitMultiplier grows the wait on consecutive trips (a trip from
	// half-open, before the breaker has closed again): the n-th consecutive
	// trip waits OpenWait × OpenWaitMultiplier^(n-1), at most MaxOpenWait.
	// 0 keeps the wait fixed; otherwise in (1, 100].
	OpenWaitMultiplier float64

	// MaxOpenWait caps the growing wait. Required (at least OpenWait) when
	// OpenWaitMultiplier is set, 0 otherwise.
	MaxOpenWait time.Duration

	// OpenWaitJitter shortens each wait by a random fraction of up to this
	// much, so breakers that tripped together (one per host, or one per
	// process of a fleet) do not probe at the same instant. The wait never
	// exceeds the computed value. 0 turns jitter off; otherwise in (0, 1).
	OpenWaitJitter float64

	// HalfOpenCalls is the number of probe calls let through after the wait.
	// Calls beyond it are rejected while the probes run. A probe that ends
	// without a verdict (an ignored error, or the caller's cancellation)
	// returns its permit. In [1, 10000].
	HalfOpenCalls int

	// HalfOpenSuccesses is the number of successful probes that closes the
	// breaker; it reopens as soon as that many can no longer succeed (more
	// than HalfOpenCalls-HalfOpenSuccesses probes failed). A slow probe
	// counts as failed when slow-call detection is on. In [1, HalfOpenCalls].
	HalfOpenSuccesses int

	// MaxHalfOpenWait sends a half-open breaker back to open (as a failed
	// probe would) when its probes have not reached a verdict this long after
	// the first of them was let through: probes that hang cannot keep the
	// breaker half-open for ever. 0 waits for the probes however long they
	// take.
	MaxHalfOpenWait time.Duration

	// DryRun runs the full state machine, its hooks and its metrics, but
	// never rejects: a call the breaker would have rejected runs anyway, is
	// counted in Metrics.Rejected and reported to OnReject, and its outcome
	// is not recorded (it would not have run). For rolling a breaker out
	// safely: watch what it would do before it does it.
	DryRun bool

	// IsFailure reports whether an error returned by a call counts as a
	// failure; when it reports false the call counts as a success. nil counts
	// every error (other than ignored ones) as a failure.
	IsFailure func(err error) bool

	// IsIgnored reports errors that count as neither success nor failure
	// (a validation error from the caller's own bad input, say). It is asked
	// before IsFailure. The caller's own cancellation (context.Canceled
	// while the ctx given to Do is done) is always ignored. nil ignores
	// nothing else.
	IsIgnored func(err error) bool

	// OnStateChange is called after every change of state, in the order the
	// changes happened, one call at a time and never under the breaker's
	// lock: it may call any method of the breaker. Optional.
	OnStateChange func(StateChange)

	// OnReject is called with the error of every rejected call (in DryRun,
	// of every call that would have been rejected), never under the
	// breaker's lock. Optional.
	OnReject func(*OpenError)

	// Clock is the time source; nil means clock.System. With clock.System,
	// timing each call (slow-call detection, time-window buckets) reads a
	// shared millisecond clock instead of the system clock (see the package
	// documentation); the open wait and MaxHalfOpenWait read the system clock.
	// Any other Clock is read directly for everything.
	Clock clock.Clock
}

// DefaultConfig returns the settings most services can start from: a window
// of the last 100 calls that opens at a 50% failure rate once it holds 20
// calls, a 10 second wait that doubles on consecutive trips up to 2 minutes
// with 10% jitter, and 5 probes of which 3 must succeed, within a minute.
// Slow-call detection and the consecutive-failure trip are off.
func DefaultConfig() Config {
	return Config{
		Window:               LastCalls(100),
		FailureRateThreshold: 50,
		MinimumCalls:         20,
		OpenWait:             10 * time.Second,
		OpenWaitMultiplier:   2,
		MaxOpenWait:          2 * time.Minute,
		OpenWaitJitter:       0.1,
		HalfOpenCalls:        5,
		HalfOpenSuccesses:    3,
		MaxHalfOpenWait:      time.Minute,
	}
}

// Window is the sliding window a breaker computes its rates over. Make one
// with LastCalls or LastDuration; the zero Window is invalid.
type Window struct {
	kind     windowKind
	calls    int           // LastCalls
	duration time.Duration // LastDuration
	buckets  int
}

// Limits on windows: a count window is a ring of one byte per call, and a
// time window's buckets are read with a millisecond clock.
const (
	maxWindowCalls    = 1 << 20
	maxWindowBuckets  = 1000
	minBucketDuration = time.Millisecond
	maxHalfOpenCalls  = 10000
)

// LastCalls is a count-based window: the outcomes of the last n calls, in
// the order they finished. It needs no clock.
func LastCalls(n int) Window { return Window{kind: countWindowKind, calls: n} }

// LastDuration is a time-based window over the last d, kept as buckets
// buckets of d/buckets each: it holds the calls of the current bucket and of
// the buckets-1 before it, so it spans between d-d/buckets and d. More
// buckets follow time more smoothly and cost a little more per failure.
func LastDuration(d time.Duration, buckets int) Window {
	return Window{kind: timeWindowKind, duration: d, buckets: buckets}
}

type windowKind uint8

const (
	countWindowKind windowKind = iota + 1
	timeWindowKind
)

// String describes the window as it was made, e.g. "LastCalls(100)".
func (w Window) String() string {
	switch w.kind {
	case timeWindowKind:
		return fmt.Sprintf("LastDuration(%v, %d)", w.duration, w.buckets)
	case countWindowKind:
		return fmt.Sprintf("LastCalls(%d)", w.calls)
	}
	return "Window{}"
}

func (w Window) timed() bool { return w.kind == timeWindowKind }

func invalid(field, rule string, got any) error {
	return fmt.Errorf("circuitbreaker: Config.%s must %s, got %v", field, rule, got)
}

// inRange reports whether lo < x <= hi (x is not NaN).
func inRange(x, lo, hi float64) bool { return x > lo && x <= hi }

func (c *Config) validate() error {
	switch w := c.Window; {
	case w.kind == 0:
		return errors.New("circuitbreaker: Config.Window must be set with LastCalls or LastDuration")
	case w.timed():
		if w.buckets < 1 || w.buckets > maxWindowBuckets {
			return invalid("Window", fmt.Sprintf("have buckets in [1, %d]", maxWindowBuckets), w)
		}
		if w.duration/time.Duration(w.buckets) < minBucketDuration {
			return invalid("Window", fmt.Sprintf("have buckets of at least %v (duration/buckets)", minBucketDuration), w)
		}
	default:
		if w.calls < 1 || w.calls > maxWindowCalls {
			return invalid("Window", fmt.Sprintf("hold [1, %d] calls", maxWindowCalls), w)
		}
	}
	if !inRange(c.FailureRateThreshold, 0, 100) {
		return invalid("FailureRateThreshold", "be in (0, 100]", c.FailureRateThreshold)
	}
	maxCalls := math.MaxInt32
	if !c.Window.timed() {
		maxCalls = c.Window.calls
	}
	if c.MinimumCalls < 1 || c.MinimumCalls > maxCalls {
		return invalid("MinimumCalls", fmt.Sprintf("be in [1, %d]", maxCalls), c.MinimumCalls)
	}
	if c.ConsecutiveFailures < 0 {
		return invalid("ConsecutiveFailures", "be 0 (off) or more", c.ConsecutiveFailures)
	}
	switch {
	case c.SlowCallDuration < 0:
		return invalid("SlowCallDuration", "be 0 (off) or more", c.SlowCallDuration)
	case c.SlowCallDuration > 0 && !inRange(c.SlowCallRateThreshold, 0, 100):
		return invalid("SlowCallRateThreshold", "be in (0, 100] when SlowCallDuration is set", c.SlowCallRateThreshold)
	case c.SlowCallDuration == 0 && c.SlowCallRateThreshold != 0:
		return invalid("SlowCallRateThreshold", "be 0 when SlowCallDuration is 0 (slow-call detection off)", c.SlowCallRateThreshold)
	}
	if c.OpenWait <= 0 {
		return invalid("OpenWait", "be greater than 0", c.OpenWait)
	}
	switch {
	case c.OpenWaitMultiplier != 0 && !inRange(c.OpenWaitMultiplier, 1, 100):
		return invalid("OpenWaitMultiplier", "be 0 (fixed wait) or in (1, 100]", c.OpenWaitMultiplier)
	case c.OpenWaitMultiplier != 0 && c.MaxOpenWait < c.OpenWait:
		return invalid("MaxOpenWait", fmt.Sprintf("be at least OpenWait (%v) when OpenWaitMultiplier is set", c.OpenWait), c.MaxOpenWait)
	case c.OpenWaitMultiplier == 0 && c.MaxOpenWait != 0:
		return invalid("MaxOpenWait", "be 0 when OpenWaitMultiplier is 0 (fixed wait)", c.MaxOpenWait)
	}
	if c.OpenWaitJitter != 0 && !(c.OpenWaitJitter > 0 && c.OpenWaitJitter < 1) {
		return invalid("OpenWaitJitter", "be 0 (off) or in (0, 1)", c.OpenWaitJitter)
	}
	if c.HalfOpenCalls < 1 || c.HalfOpenCalls > maxHalfOpenCalls {
		return invalid("HalfOpenCalls", fmt.Sprintf("be in [1, %d]", maxHalfOpenCalls), c.HalfOpenCalls)
	}
	if c.HalfOpenSuccesses < 1 || c.HalfOpenSuccesses > c.HalfOpenCalls {
		return invalid("HalfOpenSuccesses", fmt.Sprintf("be in [1, HalfOpenCalls=%d]", c.HalfOpenCalls), c.HalfOpenSuccesses)
	}
	if c.MaxHalfOpenWait < 0 {
		return invalid("MaxHalfOpenWait", "be 0 (off) or more", c.MaxHalfOpenWait)
	}
	return nil
}
