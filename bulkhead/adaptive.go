package bulkhead

import (
	"cmp"
	"fmt"
	"math"
	"time"
)

// Adaptive is an algorithm that finds a bulkhead's limit from the latency
// of the calls it admits: AIMD or Gradient (or a pointer to one). Set one
// as Config.Adaptive; its zero fields take their defaults. A value is a
// configuration; each bulkhead (each key of a Keyed one) keeps its own
// state.
type Adaptive interface {
	withDefaults(ceiling int) Adaptive
	validate(ceiling int) error
	newEstimator(ceiling int) estimator
}

// estimator is the state of an adaptive limit. The bulkhead serialises its
// calls.
type estimator interface {
	limit() int
	// observe records a finished call and returns the new limit.
	observe(s sample) int
}

// sample is one finished call, in nanoseconds since the bulkhead's base.
type sample struct {
	start, end int64
	inFlight   int  // permits in use as it finished, itself included
	dropped    bool // its error says the dependency is overloaded
	ignored    bool // its outcome says nothing about load (a fast error, a panic)
}

func (s sample) rtt() int64 { return s.end - s.start }

// adaptiveValue returns the AIMD or Gradient a points to, so that a pointer
// configures a bulkhead as its value does, and ok false for a nil pointer.
func adaptiveValue(a Adaptive) (v Adaptive, ok bool) {
	switch p := a.(type) {
	case *AIMD:
		if p == nil {
			return nil, false
		}
		return *p, true
	case *Gradient:
		if p == nil {
			return nil, false
		}
		return *p, true
	}
	return a, true
}

// The defaults of the adaptive algorithms' zero fields, and their bounds.
const (
	defaultInitialLimit     = 10
	defaultLatencyThreshold = time.Second
	defaultBackoffRatio     = 0.9
	defaultTolerance        = 1.1
	defaultSmoothing        = 0.2
	defaultWindow           = 100 * time.Millisecond
	defaultWindowSamples    = 10
	defaultProbeInterval    = 30 * time.Second
	maxTolerance            = 100
	maxGradientWindow       = time.Hour
	maxProbeInterval        = 24 * time.Hour
)

// NeverProbe, as Gradient.ProbeInterval, never measures the no-load latency
// afresh: it stays the lowest window mean ever seen.
const NeverProbe time.Duration = -1

// limitDefaults returns the limits an algorithm with initial and minimum
// (0 for their defaults) starts with under ceiling: MinLimit 1, and
// InitialLimit 10, or the nearest to it in [MinLimit, ceiling].
func limitDefaults(initial, minimum, ceiling int) (int, int) {
	if minimum == 0 {
		minimum = 1
	}
	if initial == 0 {
		initial = max(min(defaultInitialLimit, ceiling), minimum)
	}
	return initial, minimum
}

func validateLimits(name string, initial, minimum, ceiling int) error {
	if minimum < 1 || minimum > ceiling {
		return fmt.Errorf("%s.MinLimit must be in [1, MaxConcurrent=%d] (0 means 1), got %d", name, ceiling, minimum)
	}
	if initial < minimum || initial > ceiling {
		return fmt.Errorf("%s.InitialLimit must be in [MinLimit=%d, MaxConcurrent=%d] (0 means %d, or the nearest in range), got %d", name, minimum, ceiling, defaultInitialLimit, initial)
	}
	return nil
}

// AIMD adapts the limit as TCP Reno adapts its window: additive increase,
// multiplicative decrease. Each call that completes within LatencyThreshold
// while the bulkhead is at least half used raises the limit by 1/limit (one
// per limit's worth of calls); a call slower than LatencyThreshold, or one
// whose error is Overloaded, multiplies it by BackoffRatio. Calls that
// started before the last decrease cannot cause another, so one slow spell
// costs one decrease, not one per call in flight.
//
// The limit settles just under the concurrency at which the dependency's
// latency crosses LatencyThreshold: set it a little above the latency the
// dependency has when healthy. The zero AIMD is DefaultAIMD.
type AIMD struct {
	// InitialLimit is the limit to start from, in [MinLimit,
	// MaxConcurrent]; 0 means 10, or the nearest to it in that range.
	InitialLimit int
	// MinLimit is the lowest the limit goes, in [1, MaxConcurrent]; 0
	// means 1.
	MinLimit int
	// LatencyThreshold is the latency beyond which a call counts as a sign
	// of overload: > 0; 0 means 1 second, which only backs off on calls
	// that are slow by any measure (and, through Overloaded, on timeouts).
	LatencyThreshold time.Duration
	// BackoffRatio multiplies the limit on a sign of overload, in (0, 1);
	// 0 means 0.9.
	BackoffRatio float64
}

// DefaultAIMD returns the defaults a zero AIMD stands for: it starts at 10,
// never goes below 1, backs off by 10% at a time, and takes a call slower
// than a second as a sign of overload.
func DefaultAIMD() AIMD {
	return AIMD{InitialLimit: defaultInitialLimit, MinLimit: 1, LatencyThreshold: defaultLatencyThreshold, BackoffRatio: defaultBackoffRatio}
}

func (a AIMD) withDefaults(ceiling int) Adaptive {
	a.InitialLimit, a.MinLimit = limitDefaults(a.InitialLimit, a.MinLimit, ceiling)
	a.LatencyThreshold = cmp.Or(a.LatencyThreshold, defaultLatencyThreshold)
	a.BackoffRatio = cmp.Or(a.BackoffRatio, defaultBackoffRatio)
	return a
}

func (a AIMD) validate(ceiling int) error {
	if err := validateLimits("AIMD", a.InitialLimit, a.MinLimit, ceiling); err != nil {
		return err
	}
	if a.LatencyThreshold <= 0 {
		return fmt.Errorf("AIMD.LatencyThreshold must be > 0 (0 means %v), got %v", defaultLatencyThreshold, a.LatencyThreshold)
	}
	if !(a.BackoffRatio > 0 && a.BackoffRatio < 1) {
		return fmt.Errorf("AIMD.BackoffRatio must be in (0, 1) (0 means %v), got %v", defaultBackoffRatio, a.BackoffRatio)
	}
	return nil
}

func (a AIMD) newEstimator(ceiling int) estimator {
	return &aimd{cfg: a, ceiling: float64(ceiling), lim: float64(a.InitialLimit), backedOff: math.MinInt64}
}

type aimd struct {
	cfg       AIMD
	ceiling   float64
	lim       float64
	backedOff int64 // when the limit last decreased
}

func (e *aimd) limit() int { return int(e.lim) }

func (e *aimd) observe(s sample) int {
	switch {
	case s.ignored:
	case s.dropped || s.rtt() > int64(e.cfg.LatencyThreshold):
		if s.start >= e.backedOff {
			e.lim = max(e.lim*e.cfg.BackoffRatio, float64(e.cfg.MinLimit))
			e.backedOff = s.end
		}
	case float64(2*s.inFlight) >= e.lim:
		e.lim = min(e.lim+1/e.lim, e.ceiling)
	}
	return int(e.lim)
}

// Gradient adapts the limit to how much slower calls have become than when
// the dependency is unloaded, in the spirit of Netflix's concurrency-limits
// gradient algorithm. Every Window it compares the window's mean latency
// with the no-load latency (the lowest window mean seen) and sets
//
//	target = limit × gradient + √limit, gradient = Tolerance × no-load / mean, kept in [0.5, 1]
//
// then moves the limit toward target by Smoothing. While latency stays
// within Tolerance of no-load the limit grows by about √limit per window
// (the room for a short queue); once latency grows with load, past the
// dependency's knee, the gradient pulls it back: the limit settles where
// latency begins to climb, and follows the knee as capacity comes and goes.
// A window with an Overloaded error halves the limit. A window in which the
// bulkhead was less than half used cannot raise it.
//
// The no-load latency would go stale if the dependency became slower for
// good, so every ProbeInterval the limit is halved for two windows (one to
// drain queues, lasting until a call admitted in it is back, and one to
// measure) and the measured mean becomes the new no-load latency; then the
// limit returns to where it was. The zero Gradient is DefaultGradient.
type Gradient struct {
	// InitialLimit is the limit to start from, in [MinLimit,
	// MaxConcurrent]; 0 means 10, or the nearest to it in that range.
	InitialLimit int
	// MinLimit is the lowest the limit goes, in [1, MaxConcurrent]; 0
	// means 1.
	MinLimit int
	// Tolerance is how much slower than no-load calls may get before the
	// limit shrinks, as a ratio in [1, 100]: 1.1 tolerates 10%. 0 means
	// 1.1.
	Tolerance float64
	// Smoothing is how far the limit moves toward each window's target, in
	// (0, 1]; 0 means 0.2.
	Smoothing float64
	// Window is how often the limit is recomputed, in (0, 1h]; a window
	// lasts until at least WindowSamples calls have completed in it. 0
	// means 100 milliseconds.
	Window time.Duration
	// WindowSamples is the fewest completed calls a window needs, in [1,
	// 2³¹-1]; 0 means 10.
	WindowSamples int
	// ProbeInterval is how often the no-load latency is measured afresh: at
	// least 4 Windows and at most 24 hours, or NeverProbe. 0 means 30
	// seconds, or 4 Windows when that is longer.
	ProbeInterval time.Duration
}

// DefaultGradient returns the defaults a zero Gradient stands for: it
// starts at 10, never goes below 1, tolerates latency 10% above no-load,
// updates every 100 ms (of at least 10 calls) moving 20% of the way, and
// re-measures no-load latency every 30 seconds.
func DefaultGradient() Gradient {
	return Gradient{
		InitialLimit:  defaultInitialLimit,
		MinLimit:      1,
		Tolerance:     defaultTolerance,
		Smoothing:     defaultSmoothing,
		Window:        defaultWindow,
		WindowSamples: defaultWindowSamples,
		ProbeInterval: defaultProbeInterval,
	}
}

func (g Gradient) withDefaults(ceiling int) Adaptive {
	g.InitialLimit, g.MinLimit = limitDefaults(g.InitialLimit, g.MinLimit, ceiling)
	g.Tolerance = cmp.Or(g.Tolerance, defaultTolerance)
	g.Smoothing = cmp.Or(g.Smoothing, defaultSmoothing)
	g.Window = cmp.Or(g.Window, defaultWindow)
	g.WindowSamples = cmp.Or(g.WindowSamples, defaultWindowSamples)
	if g.ProbeInterval == 0 {
		g.ProbeInterval = defaultProbeInterval
		if g.Window > 0 && g.Window <= maxGradientWindow {
			g.ProbeInterval = max(g.ProbeInterval, 4*g.Window)
		}
	}
	return g
}

func (g Gradient) validate(ceiling int) error {
	if err := validateLimits("Gradient", g.InitialLimit, g.MinLimit, ceiling); err != nil {
		return err
	}
	switch {
	case !(g.Tolerance >= 1 && g.Tolerance <= maxTolerance):
		return fmt.Errorf("Gradient.Tolerance must be in [1, %d] (0 means %v), got %v", maxTolerance, defaultTolerance, g.Tolerance)
	case !(g.Smoothing > 0 && g.Smoothing <= 1):
		return fmt.Errorf("Gradient.Smoothing must be in (0, 1] (0 means %v), got %v", defaultSmoothing, g.Smoothing)
	case g.Window <= 0 || g.Window > maxGradientWindow:
		return fmt.Errorf("Gradient.Window must be in (0, %v] (0 means %v), got %v", maxGradientWindow, defaultWindow, g.Window)
	case g.WindowSamples < 1 || g.WindowSamples > maxCount:
		return fmt.Errorf("Gradient.WindowSamples must be in [1, %d] (0 means %d), got %d", maxCount, defaultWindowSamples, g.WindowSamples)
	case g.ProbeInterval == NeverProbe:
	case g.ProbeInterval < 4*g.Window || g.ProbeInterval > maxProbeInterval:
		return fmt.Errorf("Gradient.ProbeInterval must be bulkhead.NeverProbe or in [4 Windows (%v), %v], got %v", 4*g.Window, maxProbeInterval, g.ProbeInterval)
	}
	return nil
}

func (g Gradient) newEstimator(ceiling int) estimator {
	return &gradient{cfg: g, ceiling: float64(ceiling), lim: float64(g.InitialLimit), nextProbe: int64(g.ProbeInterval)}
}

// The phases of a Gradient estimator.
const (
	tracking  = iota // adjusting the limit every window
	draining         // limit halved, letting queues empty
	measuring        // limit halved, measuring no-load latency
)

type gradient struct {
	cfg     Gradient
	ceiling float64
	lim     float64

	winStart  int64 // the current window's start; the first starts with the bulkhead
	n         int   // calls counted in the window
	sum       int64 // their total latency
	drops     int
	maxFlight int

	noLoad    float64 // no-load latency in ns; 0 until the first window
	phase     int
	nextProbe int64
	saved     float64 // the limit before a probe
}

func (e *gradient) limit() int { return int(e.lim) }

func (e *gradient) observe(s sample) int {
	// While probing, only calls admitted since the phase began count.
	if !s.ignored && (e.phase == tracking || s.start >= e.winStart) {
		if s.dropped {
			e.drops++
		} else {
			e.n++
			e.sum += s.rtt()
		}
		e.maxFlight = max(e.maxFlight, s.inFlight)
	}
	if s.end-e.winStart < int64(e.cfg.Window) {
		return int(e.lim)
	}
	switch {
	case e.phase == draining && e.n+e.drops == 0:
		// Drained once a call admitted under the probe's limit is back: the
		// calls queued before it have gone.
		return int(e.lim)
	case e.phase != draining && e.n < e.cfg.WindowSamples && e.drops == 0:
		return int(e.lim)
	}
	switch e.phase {
	case tracking:
		e.track()
		if e.cfg.ProbeInterval > 0 && s.end >= e.nextProbe {
			e.phase, e.saved = draining, e.lim
			e.lim = max(e.lim/2, float64(e.cfg.MinLimit))
		}
	case draining:
		e.phase = measuring
	case measuring:
		if e.n > 0 {
			e.noLoad = float64(e.sum) / float64(e.n)
		}
		e.phase, e.lim = tracking, e.saved
		e.nextProbe = s.end + int64(e.cfg.ProbeInterval)
	}
	e.winStart, e.n, e.sum, e.drops, e.maxFlight = s.end, 0, 0, 0, 0
	return int(e.lim)
}

// track moves the limit toward the window's target.
func (e *gradient) track() {
	g := 0.5
	if e.drops == 0 {
		mean := float64(e.sum) / float64(e.n)
		if e.noLoad == 0 || mean < e.noLoad {
			e.noLoad = mean
		}
		g = 1 // calls too fast to time (a coarse clock) show no slowdown
		if mean > 0 {
			g = min(max(e.cfg.Tolerance*e.noLoad/mean, 0.5), 1)
		}
	}
	target := e.lim*g + math.Sqrt(e.lim)
	if float64(2*e.maxFlight) < e.lim {
		target = min(target, e.lim)
	}
	e.lim = min(max(e.lim+(target-e.lim)*e.cfg.Smoothing, float64(e.cfg.MinLimit)), e.ceiling)
}
