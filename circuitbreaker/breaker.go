package circuitbreaker

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Breaker is a circuit breaker. It is safe for concurrent use; make one with
// New and share it between every caller of the dependency it protects. The
// zero Breaker is not usable: its methods panic.
type Breaker struct {
	// word packs the state, quietBit, plainBit and a generation that every
	// state change (and Reset) increments, starting at 1 (a zero word is a
	// Breaker not made by New). It is the only shared memory the closed
	// success path touches, and it only reads it.
	word atomic.Uint64

	// Read-only after New; read on the hot path.
	cw       *countWindow // one of cw, tw is set
	tw       *timeWindow
	timed    bool  // the hot path needs the time: a time window or slow-call detection
	slowCall int64 // SlowCallDuration in nanoseconds, 0 = off
	cfg      Config
	clk      clock.Clock // nil: the system clock
	origin   time.Time   // zero of an injected clock's readings
	obs      bulwark.Observer
	name     string // the Name of events: Config.Name, or a Keyed set's
	key      any    // a Keyed set's key, for events

	// fixed holds the rejections whose RetryAfter is always OpenWait and
	// DryRun, made by New and again by each Reconfigure.
	fixed atomic.Pointer[fixedRejections]

	// Read by every rejection while open; written at trips (openUntil,
	// under mu) and at most once per clock reading (openErr).
	openUntil atomic.Int64 // open: when probing may start
	openErr   atomic.Pointer[openRejection]
	rejected  stripedCounter

	_ [64]byte // keep the mutable fields below off the cache lines above

	mu           sync.Mutex
	win          window // cw or tw
	consecutive  int
	trips        int
	probingSince int64 // half-open: when the first probe was let through
	probing      bool  // half-open: a probe has been let through
	permits      int   // half-open: probe permits left
	probesOK     int
	probesFailed int
	gate         *ejectionGate   // keyed breakers only; nil after eviction
	events       []pendingChange // changes not yet delivered to the observer
	delivering   bool
}

// fixedRejections are the rejections whose RetryAfter is always OpenWait,
// with their Rejected events boxed once when there is an Observer (see
// rejectedEvent), and the DryRun setting they were made under.
type fixedRejections struct {
	forcedOpen, halfOpen       *OpenError
	forcedEvent, halfOpenEvent bulwark.Event
	dryRun                     bool
}

// pendingChange is a state change waiting to be reported, with the context
// of the call that caused it.
type pendingChange struct {
	ctx    context.Context
	change StateChange
}

// The word's layout: state in the low bits, then quietBit, plainBit and
// the generation.
const (
	stateMask = 1<<3 - 1
	quietBit  = 1 << 3
	plainBit  = 1 << 4 // a count window without slow-call detection: Do's short path
	genShift  = 5
	firstGen  = 1 << genShift
)

func wordState(w uint64) State { return State(w & stateMask) }

// New returns a closed Breaker, or an error naming the first setting of cfg
// outside its allowed range. Zero fields of cfg take their defaults.
func New(cfg Config) (*Breaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newBreaker(cfg, nil, cfg.Name, nil), nil
}

// newBreaker makes a breaker from a validated cfg, reporting events under
// name and key.
func newBreaker(cfg Config, gate *ejectionGate, name string, key any) *Breaker {
	b := &Breaker{cfg: cfg, slowCall: int64(cfg.SlowCallDuration), gate: gate, obs: cfg.Observer, name: name, key: key}
	if cfg.Window.timed() {
		b.tw = newTimeWindow(cfg.Window)
		b.win = b.tw
	} else {
		b.cw = newCountWindow(cfg.Window.calls)
		b.win = b.cw
	}
	b.timed = b.tw != nil || b.slowCall > 0
	b.fixed.Store(b.newFixed(cfg.OpenWait, cfg.DryRun))
	if cfg.Clock != nil && cfg.Clock != clock.System {
		b.clk = cfg.Clock
		b.origin = cfg.Clock.Now()
	}
	w := uint64(firstGen) | uint64(StateClosed)
	if !b.timed {
		w |= plainBit
	}
	b.word.Store(w)
	return b
}

// newFixed makes the rejections and events that carry OpenWait and DryRun.
func (b *Breaker) newFixed(openWait time.Duration, dryRun bool) *fixedRejections {
	f := &fixedRejections{
		forcedOpen: &OpenError{Name: b.cfg.Name, State: StateForcedOpen, Wait: openWait},
		halfOpen:   &OpenError{Name: b.cfg.Name, State: StateHalfOpen, Wait: openWait},
		dryRun:     dryRun,
	}
	if b.obs != nil {
		f.forcedEvent = Rejected{Name: b.name, Key: b.key, Err: f.forcedOpen, DryRun: dryRun}
		f.halfOpenEvent = Rejected{Name: b.name, Key: b.key, Err: f.halfOpen, DryRun: dryRun}
	}
	return f
}

// unmade is the panic of a method called on a Breaker not made by New.
const unmade = "circuitbreaker: Breaker used without New"

// The breaker reads time in nanoseconds since coarse.origin, two ways.
// callNow times calls (slow-call detection), places them in a time window's
// buckets and filters rejections of an open breaker: it runs on every call,
// so with the system clock it reads the coarse clock, which may lag. stateNow
// times the state machine (when the open wait ends, MaxHalfOpenWait): it
// runs only when the state changes or when an open breaker may be done
// waiting, and reads the system clock exactly. An injected clock serves
// both.
func (b *Breaker) callNow() int64 {
	if b.clk == nil {
		return coarseNow()
	}
	return b.clockNow()
}

// clockNow reads an injected clock.
func (b *Breaker) clockNow() int64 { return int64(b.clk.Now().Sub(b.origin)) }

func (b *Breaker) stateNow() int64 {
	if b.clk == nil {
		return int64(time.Since(coarse.origin))
	}
	return b.clockNow()
}

// Do runs op if the breaker lets it through and records its outcome. It
// returns op's error unchanged, or an *OpenError (matching ErrOpen and
// bulwark.ErrRejected) without calling op when the breaker rejects the
// call.
//
// The outcome is classified as Config.IsIgnored and Config.IsFailure say; a
// context.Canceled while ctx is done is the caller's own cancellation and is
// ignored. If op panics, the call counts as a failure (a probe's permit is
// used up, not leaked) and the panic continues to the caller.
//
// A result counts only in the state generation it was admitted in: a call
// let through while closed that finishes after the breaker opened changes
// nothing, and cannot pass for a probe.
func (b *Breaker) Do(ctx context.Context, op func(context.Context) error) error {
	w := b.word.Load()
	if w&(stateMask|plainBit) != plainBit|uint64(StateClosed) {
		if s := wordState(w); s == StateOpen || s == StateForcedOpen {
			return b.doOpen(ctx, w, op)
		}
		return b.run(ctx, w, op)
	}
	// The closed path of a count window without slow-call detection, kept
	// small: it reads the word before and after op and writes nothing when
	// op succeeds in a quiet window.
	returned := false
	defer func() {
		if !returned {
			b.finish(ctx, w, 0, nil, true)
		}
	}()
	err := op(ctx)
	returned = true
	if err == nil && b.word.Load() == w|quietBit {
		return nil
	}
	b.finish(ctx, w, 0, err, false)
	return err
}

// doOpen is Do on a breaker found open or forced open in word w. Most
// calls are rejected here, without the lock, a read of the system clock or
// a write to a cache line other cores read.
func (b *Breaker) doOpen(ctx context.Context, w uint64, op func(context.Context) error) error {
	if f := b.fixed.Load(); !f.dryRun {
		r := f.forcedOpen
		if wordState(w) == StateOpen {
			r = b.rejectOpen(w)
		}
		if r != nil {
			b.rejected.add()
			if b.obs != nil {
				b.obs.Observe(ctx, b.rejectedEvent(r))
			}
			return r
		}
	}
	return b.run(ctx, w, op)
}

// run is Do through Allow, for a breaker found in word w not closed, or
// timing its calls.
func (b *Breaker) run(ctx context.Context, w uint64, op func(context.Context) error) error {
	p, err := b.allow(ctx, w)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned {
			p.finish(nil, true)
		}
	}()
	err = op(ctx)
	returned = true
	p.finish(err, false)
	return err
}

// Permit is a call let through by Allow. Call Done exactly once with the
// call's error when it finishes.
type Permit struct {
	b       *Breaker
	ctx     context.Context
	word    uint64 // the breaker's word when the call was admitted
	start   int64
	counted bool // false for a call DryRun let through that would have been rejected
}

// Allow is the two-phase form of Do for callers that cannot wrap the call in
// a function (a streaming response, a callback API): it either returns a
// Permit, whose Done the caller must call once with the call's error, or an
// *OpenError. ctx is the caller's context, used to tell its own cancellation
// from a failure and passed to the observer. A Permit whose Done is never
// called holds a probe permit until MaxHalfOpenWait; unlike Do, Allow
// cannot see a panic.
func (b *Breaker) Allow(ctx context.Context) (Permit, error) {
	return b.allow(ctx, b.word.Load())
}

// allow is Allow, having read word w.
func (b *Breaker) allow(ctx context.Context, w uint64) (Permit, error) {
	if wordState(w) != StateClosed {
		if rejection := b.rejectFast(w); rejection != nil {
			return b.reject(ctx, rejection)
		}
		return b.admit(ctx)
	}
	if w == 0 {
		panic(unmade)
	}
	p := Permit{b: b, ctx: ctx, word: w, counted: true}
	if b.timed {
		p.start = b.callNow()
	}
	return p, nil
}

// Done records the outcome of the call, err being its error (nil for a
// success), classified as in Do. Done on the zero Permit does nothing.
func (p Permit) Done(err error) {
	if p.b != nil {
		p.finish(err, false)
	}
}

func (p *Permit) finish(err error, panicked bool) {
	if p.counted {
		p.b.finish(p.ctx, p.word, p.start, err, panicked)
	}
}

// admit decides, under the lock, whether a call may run in a state other
// than (or no longer) closed.
func (b *Breaker) admit(ctx context.Context) (Permit, error) {
	b.mu.Lock()
	var now int64
	if wordState(b.word.Load()) != StateDisabled {
		now = b.stateNow()
		b.advance(ctx, now)
	}
	w := b.word.Load()
	p := Permit{b: b, ctx: ctx, word: w, counted: true}
	var rejection *OpenError
	switch s := wordState(w); s {
	case StateClosed, StateDisabled:
	case StateHalfOpen:
		if b.permits > 0 {
			b.permits--
			if !b.probing {
				b.probing, b.probingSince = true, now
			}
			break
		}
		rejection = b.fixed.Load().halfOpen
	case StateOpen:
		rejection = b.openRejection(w, now, b.openUntil.Load())
	case StateForcedOpen:
		rejection = b.fixed.Load().forcedOpen
	}
	b.unlockAndDeliver()
	if rejection == nil {
		if b.timed {
			p.start = b.callNow()
		}
		return p, nil
	}
	return b.reject(ctx, rejection)
}

// rejectFast rejects, without the lock, a call to a breaker found in word w
// forced open, or open with time left to wait: rejections are cheap when
// an open breaker takes a dependency's full traffic.
func (b *Breaker) rejectFast(w uint64) *OpenError {
	switch wordState(w) {
	case StateForcedOpen:
		return b.fixed.Load().forcedOpen
	case StateOpen:
		return b.rejectOpen(w)
	}
	return nil
}

// rejectOpen returns the rejection of a call to a breaker found open in
// word w, or nil when the wait may be over. It reads callNow, the coarse
// clock with the system clock: being at most a tick behind (more while the
// process is starved of CPU), it can only make the open wait last that much
// longer and RetryAfter read that much higher, never shorter. Rejections at
// one reading share one *OpenError, so most rejections read the clock,
// compare two words and return.
func (b *Breaker) rejectOpen(w uint64) *OpenError {
	var now int64
	if b.clk == nil {
		now = coarseNow()
	} else {
		now = b.clockNow()
	}
	if r := b.openErr.Load(); r != nil && r.word == w && r.now == now {
		return &r.err // made for this open state at this reading, before its end
	}
	if until := b.openUntil.Load(); now < until && b.word.Load() == w { // until is this open state's
		return b.openRejection(w, now, until)
	}
	return nil
}

// openRejection is an open breaker's rejection, made once per clock reading
// (with the coarse clock, at most once a millisecond) and shared by every
// call rejected at that reading: a breaker taking a dependency's full
// traffic while open does not allocate per call.
type openRejection struct {
	word  uint64
	now   int64
	err   OpenError
	event bulwark.Event // Rejected{Err: &err}, when there is an Observer
}

func (b *Breaker) openRejection(w uint64, now, until int64) *OpenError {
	if r := b.openErr.Load(); r != nil && r.word == w && r.now == now {
		return &r.err
	}
	r := &openRejection{word: w, now: now, err: OpenError{Name: b.cfg.Name, State: StateOpen, Wait: time.Duration(until - now)}}
	if b.obs != nil {
		r.event = b.newRejected(&r.err)
	}
	b.openErr.Store(r)
	return &r.err
}

// newRejected boxes the Rejected event of rejection.
func (b *Breaker) newRejected(rejection *OpenError) bulwark.Event {
	return Rejected{Name: b.name, Key: b.key, Err: rejection, DryRun: b.fixed.Load().dryRun}
}

// rejectedEvent returns the Rejected event of rejection. The rejections
// calls share (the open state's at one clock reading, the forced-open and
// the half-open one) carry their event boxed once, so that reporting a
// rejection to an Observer allocates nothing either.
func (b *Breaker) rejectedEvent(rejection *OpenError) bulwark.Event {
	switch f := b.fixed.Load(); rejection {
	case f.forcedOpen:
		return f.forcedEvent
	case f.halfOpen:
		return f.halfOpenEvent
	}
	if r := b.openErr.Load(); r != nil && rejection == &r.err && r.event != nil {
		return r.event
	}
	return b.newRejected(rejection)
}

func (b *Breaker) reject(ctx context.Context, rejection *OpenError) (Permit, error) {
	b.rejected.add()
	if b.obs != nil {
		b.obs.Observe(ctx, b.rejectedEvent(rejection))
	}
	if b.fixed.Load().dryRun {
		return Permit{b: b, ctx: ctx}, nil // runs, uncounted
	}
	return Permit{}, rejection
}

// finish classifies and records the outcome of a call admitted with word w.
func (b *Breaker) finish(ctx context.Context, w uint64, start int64, err error, panicked bool) {
	var o outcome
	switch {
	case panicked:
		o = outFailure
	case err == nil:
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		o = outIgnored
	case b.cfg.IsIgnored != nil && b.cfg.IsIgnored(err):
		o = outIgnored
	case b.cfg.IsFailure == nil || b.cfg.IsFailure(err):
		o = outFailure
	}
	var now int64
	if b.timed {
		now = b.callNow()
		if b.slowCall > 0 && o != outIgnored && now-start >= b.slowCall {
			o |= outSlow
		}
	}
	if o == outIgnored && wordState(w) != StateHalfOpen {
		return // only a probe's permit needs handing back
	}
	if o == 0 && b.word.Load() == w|quietBit {
		if b.tw == nil {
			return // a quiet count window: nothing changes
		}
		if b.tw.tryAdd(now) {
			if b.word.Load() == w|quietBit {
				return
			}
			// The window turned noisy while this success was counted:
			// let the lock see whether it completed MinimumCalls.
			b.mu.Lock()
			if b.word.Load()>>genShift == w>>genShift {
				b.consecutive = 0 // the success counted: it ends any streak
				b.evaluate(ctx, now)
			}
			b.unlockAndDeliver()
			return
		}
	}
	b.record(ctx, w, o, now)
}

// record applies an outcome, finished at callNow now, under the lock.
func (b *Breaker) record(ctx context.Context, w uint64, o outcome, now int64) {
	b.mu.Lock()
	defer b.unlockAndDeliver()
	cur := b.word.Load()
	if s := wordState(cur); s == StateHalfOpen || s == StateOpen {
		b.advance(ctx, b.stateNow())
		cur = b.word.Load()
	}
	if cur>>genShift != w>>genShift {
		return // admitted in an earlier state: it counts for nothing now
	}
	switch wordState(cur) {
	case StateClosed:
		if o&outIgnored != 0 {
			return
		}
		b.win.add(o, now)
		b.countConsecutive(o)
		b.evaluate(ctx, now)
	case StateDisabled:
		if o&outIgnored == 0 {
			b.win.add(o, now)
			b.countConsecutive(o)
		}
	case StateHalfOpen:
		switch {
		case o&outIgnored != 0:
			b.permits++ // no verdict: let another probe have the permit
		case o == 0:
			b.probesOK++
			if b.probesOK >= b.cfg.HalfOpenSuccesses {
				b.transition(ctx, StateClosed, b.stateNow())
			}
		default:
			b.probesFailed++
			if b.probesFailed > b.cfg.HalfOpenCalls-b.cfg.HalfOpenSuccesses {
				b.transition(ctx, StateOpen, b.stateNow())
			}
		}
	}
}

func (b *Breaker) countConsecutive(o outcome) {
	if o&outFailure != 0 {
		b.consecutive++
	} else {
		b.consecutive = 0
	}
}

// evaluate trips a closed breaker whose window (at callNow now) or failure
// streak says so, and otherwise keeps quietBit true to the window.
func (b *Breaker) evaluate(ctx context.Context, now int64) {
	trip := b.cfg.ConsecutiveFailures > 0 && b.consecutive >= b.cfg.ConsecutiveFailures
	if !trip {
		calls, failures, slow := b.win.totals(now)
		trip = calls >= b.cfg.MinimumCalls &&
			(rate(failures, calls) >= b.cfg.FailureRateThreshold ||
				b.slowCall > 0 && rate(slow, calls) >= b.cfg.SlowCallRateThreshold)
	}
	if trip && (b.gate == nil || b.gate.tryAcquire()) {
		b.transition(ctx, StateOpen, b.stateNow())
		return
	}
	b.setQuiet(b.quiet(now))
}

// quiet reports whether a success that is not slow would change nothing the
// breaker decides on, so the hot path may skip writing it (count window) or
// count it without the lock (time window): the window holds no failures and
// no slow calls, and a count window is full (a success replacing a success
// changes nothing). The failure streak is zero then: quiet is only ever
// found true after recording a success, or on closing.
func (b *Breaker) quiet(now int64) bool {
	calls, failures, slow := b.win.totals(now)
	return failures == 0 && slow == 0 && (b.tw != nil || calls == len(b.cw.ring))
}

func (b *Breaker) setQuiet(quiet bool) {
	w := b.word.Load()
	nw := w &^ quietBit
	if quiet {
		nw |= quietBit
	}
	if nw != w {
		b.word.Store(nw)
	}
}

// advance makes the time-driven changes due by stateNow now, each at the
// time it was due (not when it is noticed), so that when the breaker is
// next used does not change what it does: open to half-open when the wait
// ends, half-open back to open MaxHalfOpenWait after the first probe went
// out without a verdict since.
func (b *Breaker) advance(ctx context.Context, now int64) {
	for {
		switch wordState(b.word.Load()) {
		case StateOpen:
			if due := b.openUntil.Load(); now >= due {
				b.transition(ctx, StateHalfOpen, due)
				continue
			}
		case StateHalfOpen:
			if b.cfg.MaxHalfOpenWait > 0 && b.probing {
				if due := b.probingSince + int64(b.cfg.MaxHalfOpenWait); now >= due {
					b.transition(ctx, StateOpen, due)
					continue
				}
			}
		}
		return
	}
}

// transition moves the breaker to state to at stateNow now, starting a new
// generation, and queues the change for the observer, with ctx, the
// context of the call that caused it. Under the lock.
func (b *Breaker) transition(ctx context.Context, to State, now int64) {
	w := b.word.Load()
	from := wordState(w)
	var callNow int64
	if b.tw != nil {
		callNow = b.callNow()
		if from == StateClosed || from == StateDisabled {
			b.tw.rotate(callNow) // freeze the window as it is at the change
		}
	}
	report := from != to && b.obs != nil
	var change StateChange
	if report {
		change = StateChange{Name: b.name, Key: b.key, From: from, To: to, Metrics: b.metricsLocked(callNow)}
	}
	switch to {
	case StateClosed:
		b.win.reset()
		b.consecutive, b.trips = 0, 0
	case StateOpen:
		b.trips++
		b.openUntil.Store(now + b.openWait())
	case StateHalfOpen:
		b.probing = false
		b.permits = b.cfg.HalfOpenCalls
		b.probesOK, b.probesFailed = 0, 0
	}
	if b.gate != nil && from.rejecting() != to.rejecting() {
		switch {
		case from.rejecting():
			b.gate.release()
		case to != StateOpen: // a trip to open acquired its place in evaluate
			b.gate.force()
		}
	}
	nw := (w>>genShift+1)<<genShift | w&plainBit | uint64(to)
	if to == StateClosed && b.quiet(callNow) {
		nw |= quietBit
	}
	b.word.Store(nw)
	if report {
		b.events = append(b.events, pendingChange{ctx, change})
	}
}

// openWait is the wait of the b.trips-th consecutive trip.
func (b *Breaker) openWait() int64 {
	wait := float64(b.cfg.OpenWait)
	if m := b.cfg.OpenWaitMultiplier; m > FixedOpenWait {
		limit := float64(b.cfg.MaxOpenWait)
		for i := 1; i < b.trips && wait < limit; i++ {
			wait *= m
		}
		wait = min(wait, limit)
	}
	if j := b.cfg.OpenWaitJitter; j > 0 {
		wait -= wait * j * rand.Float64()
	}
	return max(int64(wait), 1)
}

// unlockAndDeliver releases the lock and then reports every queued change
// to the observer, in order. A change the observer causes (or another
// goroutine causes meanwhile) is queued for the loop already delivering,
// so reports never nest, never run under the lock, and come in the order
// the changes happened.
func (b *Breaker) unlockAndDeliver() {
	if len(b.events) == 0 || b.delivering {
		b.mu.Unlock()
		return
	}
	b.delivering = true
	delivered := false
	defer func() {
		if !delivered { // the observer panicked: let the next change deliver the rest
			b.mu.Lock()
			b.delivering = false
			b.mu.Unlock()
		}
	}()
	for len(b.events) > 0 {
		next := b.events[0]
		n := copy(b.events, b.events[1:])
		b.events[n] = pendingChange{} // keep no context alive
		b.events = b.events[:n]
		b.mu.Unlock()
		b.obs.Observe(next.ctx, next.change)
		b.mu.Lock()
	}
	b.delivering = false
	delivered = true
	b.mu.Unlock()
}

// State returns the breaker's state now. An open breaker whose wait is over
// reports (and becomes) half-open, as the next call would find it.
func (b *Breaker) State() State {
	w := b.word.Load()
	if s := wordState(w); s != StateOpen && s != StateHalfOpen {
		if w == 0 {
			panic(unmade)
		}
		return s
	}
	b.mu.Lock()
	b.advance(context.Background(), b.stateNow())
	s := wordState(b.word.Load())
	b.unlockAndDeliver()
	return s
}

// Metrics returns a snapshot of the breaker's state and window.
func (b *Breaker) Metrics() Metrics {
	b.lock()
	if s := wordState(b.word.Load()); s == StateOpen || s == StateHalfOpen {
		b.advance(context.Background(), b.stateNow())
	}
	var now int64
	if b.tw != nil {
		now = b.callNow()
	}
	m := b.metricsLocked(now)
	b.unlockAndDeliver()
	return m
}

// lock takes the lock of a breaker made by New, and panics on any other.
func (b *Breaker) lock() {
	if b.win == nil {
		panic(unmade)
	}
	b.mu.Lock()
}

// metricsLocked reports the window at callNow now.
func (b *Breaker) metricsLocked(now int64) Metrics {
	s := wordState(b.word.Load())
	var calls, failures, slow int
	if s == StateClosed || s == StateDisabled {
		calls, failures, slow = b.win.totals(now)
	} else {
		// Frozen since the trip: do not let a time window age it.
		calls, failures, slow = b.frozenTotals()
	}
	m := Metrics{
		State:               s,
		Calls:               calls,
		Failures:            failures,
		SlowCalls:           slow,
		FailureRate:         rate(failures, calls),
		SlowCallRate:        rate(slow, calls),
		ConsecutiveFailures: b.consecutive,
		Trips:               b.trips,
		Rejected:            b.rejected.load(),
	}
	if s == StateHalfOpen {
		m.ProbesAdmitted = b.cfg.HalfOpenCalls - b.permits
		m.ProbeSuccesses, m.ProbeFailures = b.probesOK, b.probesFailed
	}
	return m
}

// frozenTotals sums the window as the trip left it.
func (b *Breaker) frozenTotals() (calls, failures, slow int) {
	if b.tw == nil {
		return b.cw.totals(0)
	}
	for i := range b.tw.buckets {
		bk := &b.tw.buckets[i]
		calls += int(bk.calls.Load())
		failures += bk.failures
		slow += bk.slow
	}
	return calls, failures, slow
}

// ForceOpen rejects every call from now until Reset or Disable, whatever the
// window says. Results of calls already running are dropped.
func (b *Breaker) ForceOpen() { b.operate(StateForcedOpen) }

// Disable lets every call through from now until Reset or ForceOpen. Outcomes
// are still recorded in the window (Metrics stays live), but the breaker
// never trips.
func (b *Breaker) Disable() { b.operate(StateDisabled) }

// Reset closes the breaker with an empty window, a zero failure streak and
// the open wait back at OpenWait. Results of calls already running are
// dropped.
func (b *Breaker) Reset() { b.operate(StateClosed) }

func (b *Breaker) operate(to State) {
	b.lock()
	ctx := context.Background()
	now := b.stateNow()
	b.advance(ctx, now) // changes that fell due before this one come first
	b.transition(ctx, to, now)
	b.unlockAndDeliver()
}
