package circuitbreaker

import (
	"cmp"
	"fmt"
	"math"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Config configures a Breaker. The zero Config is DefaultConfig: every
// field left at zero takes the default its comment names, so a literal sets
// only what it changes. Settings that are on by default and can be turned
// off take a named constant for "off" (FixedOpenWait, NoJitter,
// NoMaxHalfOpenWait). New rejects any setting outside its documented range
// with an error that names it; nothing is clamped. The package
// documentation explains how to pick values.
type Config struct {
	// Name identifies the breaker in its errors ("circuitbreaker:
	// "inventory" is open") and is the Component of its events. Optional.
	Name string

	// Observer receives the breaker's events (StateChange, Rejected). Nil,
	// the default, observes nothing and costs nothing.
	Observer bulwark.Observer

	// Window is the sliding window of recent calls the failure and slow-call
	// rates are computed over: LastCalls(n) or LastDuration(d, buckets).
	// The zero Window means LastCalls(100).
	Window Window

	// FailureRateThreshold is the failure rate, in percent of the calls in
	// the window, at or above which the breaker opens: in (0, 100]. 0
	// means 50.
	FailureRateThreshold float64

	// MinimumCalls is the number of calls the window must hold before a
	// rate can open the breaker, so that one failure out of two calls does
	// not read as 50%: in [1, n] for LastCalls(n), [1, 2³¹-1] for a time
	// window. 0 means 20, or n for a LastCalls(n) window of fewer calls.
	MinimumCalls int

	// ConsecutiveFailures opens the breaker after this many failures in a
	// row, whatever the window holds and regardless of MinimumCalls. Useful
	// on low-traffic dependencies. 0, the default, turns it off; otherwise
	// in [1, 2³¹-1].
	ConsecutiveFailures int

	// SlowCallDuration marks a call that takes at least this long as slow,
	// whether it succeeds or fails. 0, the default, turns slow-call
	// detection off; otherwise > 0.
	SlowCallDuration time.Duration

	// SlowCallRateThreshold is the slow-call rate, in percent of the calls
	// in the window, at or above which the breaker opens, when
	// SlowCallDuration is set: in (0, 100]. 0 means 50.
	SlowCallRateThreshold float64

	// OpenWait is how long the breaker stays open after it first trips
	// before it lets probe calls through: in (0, 24h]. 0 means 10 seconds.
	OpenWait time.Duration

	// OpenWaitMultiplier grows the wait on consecutive trips (a trip from
	// half-open, before the breaker has closed again): the n-th consecutive
	// trip waits OpenWait × OpenWaitMultiplier^(n-1), at most MaxOpenWait.
	// In [1, 100]; FixedOpenWait (1) keeps the wait fixed. 0 means 2.
	OpenWaitMultiplier float64

	// MaxOpenWait caps the growing wait: in [OpenWait, 24h]. 0 means 2
	// minutes, or OpenWait when that is longer. Unused with FixedOpenWait.
	MaxOpenWait time.Duration

	// OpenWaitJitter shortens each wait by a random fraction of up to this
	// much, so breakers that tripped together (one per host, or one per
	// process of a fleet) do not probe at the same instant. The wait never
	// exceeds the computed value. In (0, 1), or NoJitter. 0 means 0.1.
	OpenWaitJitter float64

	// HalfOpenCalls is the number of probe calls let through after the wait.
	// Calls beyond it are rejected while the probes run. A probe that ends
	// without a verdict (an ignored error, or the caller's cancellation)
	// returns its permit. In [1, 10000]; 0 means 5.
	HalfOpenCalls int

	// HalfOpenSuccesses is the number of successful probes that closes the
	// breaker; it reopens as soon as that many can no longer succeed (more
	// than HalfOpenCalls-HalfOpenSuccesses probes failed). A slow probe
	// counts as failed when slow-call detection is on. In [1,
	// HalfOpenCalls]; 0 means a majority of HalfOpenCalls (3 of 5).
	HalfOpenSuccesses int

	// MaxHalfOpenWait sends a half-open breaker back to open (as a failed
	// probe would) when its probes have not reached a verdict this long after
	// the first of them was let through: probes that hang cannot keep the
	// breaker half-open for ever. In (0, 24h], or NoMaxHalfOpenWait to wait
	// for the probes however long they take. 0 means 1 minute.
	MaxHalfOpenWait time.Duration

	// DryRun runs the full state machine, its events and its metrics, but
	// never rejects: a call the breaker would have rejected runs anyway, is
	// counted in Metrics.Rejected and reported as a Rejected event with
	// DryRun set, and its outcome is not recorded (it would not have run).
	// For rolling a breaker out safely: watch what it would do before it
	// does it. False, the default, rejects.
	DryRun bool

	// IsFailure reports whether an error returned by a call counts as a
	// failure; when it reports false the call counts as a success. Nil, the
	// default, counts every error (other than ignored ones) as a failure.
	IsFailure func(err error) bool

	// IsIgnored reports errors that count as neither success nor failure
	// (a validation error from the caller's own bad input, say). It is asked
	// before IsFailure. The caller's own cancellation (context.Canceled
	// while the ctx given to Do is done) is always ignored. Nil, the
	// default, ignores nothing else.
	IsIgnored func(err error) bool

	// Clock is the time source; nil means clock.System. With clock.System,
	// timing each call (slow-call detection, time-window buckets) and
	// rejecting while open read a shared millisecond clock instead of the
	// system clock (see the package documentation); the state machine's
	// own changes read the system clock. Any other Clock is read directly
	// for everything.
	Clock clock.Clock
}

// Named values for settings that are on by default.
const (
	// FixedOpenWait, as Config.OpenWaitMultiplier, keeps the open wait at
	// OpenWait however many times in a row the breaker trips.
	FixedOpenWait = 1.0
	// NoJitter, as Config.OpenWaitJitter, waits exactly the computed open
	// wait.
	NoJitter = -1.0
	// NoMaxHalfOpenWait, as Config.MaxHalfOpenWait, lets half-open probes
	// take as long as they take.
	NoMaxHalfOpenWait time.Duration = -1
)

// The defaults a zero field takes.
const (
	defaultWindowCalls        = 100
	defaultFailureRate        = 50
	defaultMinimumCalls       = 20
	defaultSlowCallRate       = 50
	defaultOpenWait           = 10 * time.Second
	defaultOpenWaitMultiplier = 2
	defaultMaxOpenWait        = 2 * time.Minute
	defaultOpenWaitJitter     = 0.1
	defaultHalfOpenCalls      = 5
	defaultMaxHalfOpenWait    = time.Minute
	defaultKeyedMaxKeys       = 10000
	maxWait                   = 24 * time.Hour
	maxCount                  = math.MaxInt32
	maxOpenWaitMultiplier     = 100
)

// DefaultConfig returns the defaults a zero Config stands for, spelled out:
// a window of the last 100 calls that opens at a 50% failure rate once it
// holds 20 calls, a 10 second wait that doubles on consecutive trips up to 2
// minutes with 10% jitter, and 5 probes of which 3 must succeed, within a
// minute. Slow-call detection (at a 50% slow-call rate once a
// SlowCallDuration is set) and the consecutive-failure trip are off.
func DefaultConfig() Config {
	return Config{
		Window:                LastCalls(defaultWindowCalls),
		FailureRateThreshold:  defaultFailureRate,
		MinimumCalls:          defaultMinimumCalls,
		SlowCallRateThreshold: defaultSlowCallRate,
		OpenWait:              defaultOpenWait,
		OpenWaitMultiplier:    defaultOpenWaitMultiplier,
		MaxOpenWait:           defaultMaxOpenWait,
		OpenWaitJitter:        defaultOpenWaitJitter,
		HalfOpenCalls:         defaultHalfOpenCalls,
		HalfOpenSuccesses:     majority(defaultHalfOpenCalls),
		MaxHalfOpenWait:       defaultMaxHalfOpenWait,
	}
}

// majority is the smallest number of probes that is more than half of n.
func majority(n int) int { return n/2 + 1 }

// Window is the sliding window a breaker computes its rates over. Make one
// with LastCalls or LastDuration; the zero Window stands for the default,
// LastCalls(100).
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
// the order they finished, n in [1, 2²⁰]. It needs no clock.
func LastCalls(n int) Window { return Window{kind: countWindowKind, calls: n} }

// LastDuration is a time-based window over the last d, kept as buckets
// buckets of d/buckets each: it holds the calls of the current bucket and of
// the buckets-1 before it, so it spans between d-d/buckets and d. More
// buckets follow time more smoothly and cost a little more per failure.
// buckets must be in [1, 1000] and each bucket at least a millisecond long.
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

// inRange reports whether lo < x <= hi (false for NaN).
func inRange(x, lo, hi float64) bool { return x > lo && x <= hi }

// withDefaults returns c with every zero field set to its default. It
// leaves invalid values as they are, for validate to name.
func (c Config) withDefaults() Config {
	if c.Window.kind == 0 {
		c.Window = LastCalls(defaultWindowCalls)
	}
	c.FailureRateThreshold = cmp.Or(c.FailureRateThreshold, defaultFailureRate)
	if c.MinimumCalls == 0 {
		c.MinimumCalls = defaultMinimumCalls
		if !c.Window.timed() && c.Window.calls >= 1 {
			c.MinimumCalls = min(c.MinimumCalls, c.Window.calls)
		}
	}
	c.SlowCallRateThreshold = cmp.Or(c.SlowCallRateThreshold, defaultSlowCallRate)
	c.OpenWait = cmp.Or(c.OpenWait, defaultOpenWait)
	c.OpenWaitMultiplier = cmp.Or(c.OpenWaitMultiplier, defaultOpenWaitMultiplier)
	if c.MaxOpenWait == 0 {
		c.MaxOpenWait = max(defaultMaxOpenWait, c.OpenWait)
	}
	c.OpenWaitJitter = cmp.Or(c.OpenWaitJitter, defaultOpenWaitJitter)
	c.HalfOpenCalls = cmp.Or(c.HalfOpenCalls, defaultHalfOpenCalls)
	if c.HalfOpenSuccesses == 0 && c.HalfOpenCalls >= 1 {
		c.HalfOpenSuccesses = majority(c.HalfOpenCalls)
	}
	c.MaxHalfOpenWait = cmp.Or(c.MaxHalfOpenWait, defaultMaxHalfOpenWait)
	return c
}

// validate checks a Config that withDefaults has filled in.
func (c *Config) validate() error {
	switch w := c.Window; {
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
		return invalid("FailureRateThreshold", "be in (0, 100] (0 means 50)", c.FailureRateThreshold)
	}
	maxCalls := maxCount
	if !c.Window.timed() {
		maxCalls = c.Window.calls
	}
	if c.MinimumCalls < 1 || c.MinimumCalls > maxCalls {
		return invalid("MinimumCalls", fmt.Sprintf("be in [1, %d]", maxCalls), c.MinimumCalls)
	}
	if c.ConsecutiveFailures < 0 || c.ConsecutiveFailures > maxCount {
		return invalid("ConsecutiveFailures", fmt.Sprintf("be 0 (off) or in [1, %d]", maxCount), c.ConsecutiveFailures)
	}
	if c.SlowCallDuration < 0 {
		return invalid("SlowCallDuration", "be 0 (off) or more", c.SlowCallDuration)
	}
	if !inRange(c.SlowCallRateThreshold, 0, 100) {
		return invalid("SlowCallRateThreshold", "be in (0, 100] (0 means 50)", c.SlowCallRateThreshold)
	}
	if c.OpenWait <= 0 || c.OpenWait > maxWait {
		return invalid("OpenWait", fmt.Sprintf("be in (0, %v] (0 means %v)", maxWait, defaultOpenWait), c.OpenWait)
	}
	if !(c.OpenWaitMultiplier >= FixedOpenWait && c.OpenWaitMultiplier <= maxOpenWaitMultiplier) {
		return invalid("OpenWaitMultiplier", "be circuitbreaker.FixedOpenWait (1) or in (1, 100] (0 means 2)", c.OpenWaitMultiplier)
	}
	if c.MaxOpenWait < c.OpenWait || c.MaxOpenWait > maxWait {
		return invalid("MaxOpenWait", fmt.Sprintf("be in [OpenWait (%v), %v]", c.OpenWait, maxWait), c.MaxOpenWait)
	}
	if c.OpenWaitJitter != NoJitter && !(c.OpenWaitJitter > 0 && c.OpenWaitJitter < 1) {
		return invalid("OpenWaitJitter", "be circuitbreaker.NoJitter or in (0, 1) (0 means 0.1)", c.OpenWaitJitter)
	}
	if c.HalfOpenCalls < 1 || c.HalfOpenCalls > maxHalfOpenCalls {
		return invalid("HalfOpenCalls", fmt.Sprintf("be in [1, %d]", maxHalfOpenCalls), c.HalfOpenCalls)
	}
	if c.HalfOpenSuccesses < 1 || c.HalfOpenSuccesses > c.HalfOpenCalls {
		return invalid("HalfOpenSuccesses", fmt.Sprintf("be in [1, HalfOpenCalls=%d]", c.HalfOpenCalls), c.HalfOpenSuccesses)
	}
	if c.MaxHalfOpenWait != NoMaxHalfOpenWait && (c.MaxHalfOpenWait <= 0 || c.MaxHalfOpenWait > maxWait) {
		return invalid("MaxHalfOpenWait", fmt.Sprintf("be circuitbreaker.NoMaxHalfOpenWait or in (0, %v]", maxWait), c.MaxHalfOpenWait)
	}
	return nil
}
