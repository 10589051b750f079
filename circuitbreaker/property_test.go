package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// model is the breaker's specification written as plainly as possible: it
// keeps every recorded call of the current window in a slice and recomputes
// everything from it, takes no shortcuts, and is used by one goroutine.
type model struct {
	cfg  Config
	now  time.Duration
	st   State
	gen  int
	log  []modelCall // recorded calls of the window, oldest first
	cons int         // consecutive failures
	trip int         // consecutive trips

	openUntil, probingSince      time.Duration
	probing                      bool
	permits, probesOK, probesBad int

	frozen   [3]int // calls, failures, slow while not closed or disabled
	rejected uint64
}

type modelCall struct {
	at         time.Duration
	fail, slow bool
}

type modelPermit struct {
	gen     int
	start   time.Duration
	counted bool
}

func (m *model) live() bool { return m.st == StateClosed || m.st == StateDisabled }

func (m *model) window() (calls, failures, slow int) {
	if !m.live() {
		return m.frozen[0], m.frozen[1], m.frozen[2]
	}
	for _, c := range m.inWindow() {
		calls++
		if c.fail {
			failures++
		}
		if c.slow {
			slow++
		}
	}
	return calls, failures, slow
}

func (m *model) inWindow() []modelCall {
	w := m.cfg.Window
	if !w.timed() {
		return m.log[max(0, len(m.log)-w.calls):]
	}
	// The current bucket and the buckets-1 before it.
	width := w.duration / time.Duration(w.buckets)
	oldest := m.now/width - time.Duration(w.buckets) + 1
	var in []modelCall
	for _, c := range m.log {
		if c.at/width >= oldest {
			in = append(in, c)
		}
	}
	return in
}

func (m *model) become(s State) { m.becomeAt(s, m.now) }

func (m *model) becomeAt(s State, at time.Duration) {
	if m.live() && s != StateClosed && s != StateDisabled {
		c, f, sl := m.window()
		m.frozen = [3]int{c, f, sl}
	}
	m.gen++
	switch s {
	case StateClosed:
		m.log, m.cons, m.trip = nil, 0, 0
	case StateOpen:
		m.trip++
		wait := float64(m.cfg.OpenWait)
		for i := 1; i < m.trip && m.cfg.OpenWaitMultiplier > 1; i++ {
			wait = min(wait*m.cfg.OpenWaitMultiplier, float64(m.cfg.MaxOpenWait))
		}
		m.openUntil = at + time.Duration(wait)
	case StateHalfOpen:
		m.probing = false
		m.permits, m.probesOK, m.probesBad = m.cfg.HalfOpenCalls, 0, 0
	}
	m.st = s
}

// advance makes the time-driven changes, each at the time it fell due.
func (m *model) advance() {
	for {
		switch {
		case m.st == StateOpen && m.now >= m.openUntil:
			m.becomeAt(StateHalfOpen, m.openUntil)
		case m.st == StateHalfOpen && m.cfg.MaxHalfOpenWait > 0 && m.probing && m.now >= m.probingSince+m.cfg.MaxHalfOpenWait:
			m.becomeAt(StateOpen, m.probingSince+m.cfg.MaxHalfOpenWait)
		default:
			return
		}
	}
}

// allow returns the permit and, for a rejection, the RetryAfter expected.
func (m *model) allow() (modelPermit, time.Duration, bool) {
	m.advance()
	p := modelPermit{gen: m.gen, start: m.now, counted: true}
	var wait time.Duration
	switch m.st {
	case StateClosed, StateDisabled:
		return p, 0, true
	case StateHalfOpen:
		if m.permits > 0 {
			m.permits--
			if !m.probing {
				m.probing, m.probingSince = true, m.now
			}
			return p, 0, true
		}
		wait = m.cfg.OpenWait
	case StateOpen:
		wait = m.openUntil - m.now
	case StateForcedOpen:
		wait = m.cfg.OpenWait
	}
	m.rejected++
	if m.cfg.DryRun {
		return modelPermit{counted: false}, wait, true
	}
	return modelPermit{}, wait, false
}

func (m *model) done(p modelPermit, fail, ignored bool) {
	m.advance()
	if !p.counted || p.gen != m.gen {
		return
	}
	slow := m.cfg.SlowCallDuration > 0 && m.now-p.start >= m.cfg.SlowCallDuration
	switch m.st {
	case StateClosed, StateDisabled:
		if ignored {
			return
		}
		m.log = append(m.log, modelCall{at: m.now, fail: fail, slow: slow})
		if fail {
			m.cons++
		} else {
			m.cons = 0
		}
		if m.st == StateDisabled {
			return
		}
		calls, failures, slows := m.window()
		if m.cfg.ConsecutiveFailures > 0 && m.cons >= m.cfg.ConsecutiveFailures ||
			calls >= m.cfg.MinimumCalls && (rate(failures, calls) >= m.cfg.FailureRateThreshold ||
				m.cfg.SlowCallDuration > 0 && rate(slows, calls) >= m.cfg.SlowCallRateThreshold) {
			m.become(StateOpen)
		}
	case StateHalfOpen:
		switch {
		case ignored:
			m.permits++
		case !fail && !slow:
			m.probesOK++
			if m.probesOK >= m.cfg.HalfOpenSuccesses {
				m.become(StateClosed)
			}
		default:
			m.probesBad++
			if m.probesBad > m.cfg.HalfOpenCalls-m.cfg.HalfOpenSuccesses {
				m.become(StateOpen)
			}
		}
	}
}

func (m *model) metrics() Metrics {
	m.advance()
	calls, failures, slow := m.window()
	mt := Metrics{
		State: m.st, Calls: calls, Failures: failures, SlowCalls: slow,
		FailureRate: rate(failures, calls), SlowCallRate: rate(slow, calls),
		ConsecutiveFailures: m.cons, Trips: m.trip, Rejected: m.rejected,
	}
	if m.st == StateHalfOpen {
		mt.ProbesAdmitted = m.cfg.HalfOpenCalls - m.permits
		mt.ProbeSuccesses, mt.ProbeFailures = m.probesOK, m.probesBad
	}
	return mt
}

// randomConfig returns a random configuration without jitter (the model
// has none), leaving some fields zero so that their defaults are exercised
// too.
func randomConfig(r *rand.Rand) Config {
	c := Config{OpenWaitJitter: NoJitter}
	if r.IntN(2) == 0 {
		n := 1 + r.IntN(20)
		c.Window, c.MinimumCalls = LastCalls(n), r.IntN(n+1)
	} else {
		c.Window = LastDuration(time.Duration(1+r.IntN(10))*time.Second, 1+r.IntN(5))
		c.MinimumCalls = r.IntN(11)
	}
	c.FailureRateThreshold = []float64{0, 25, 50, 75, 100, float64(1 + r.IntN(100))}[r.IntN(6)]
	if r.IntN(2) == 0 {
		c.ConsecutiveFailures = 1 + r.IntN(5)
	}
	if r.IntN(2) == 0 {
		c.SlowCallDuration = time.Duration(1+r.IntN(3)) * time.Second
		c.SlowCallRateThreshold = []float64{0, 50, 100}[r.IntN(3)]
	}
	c.OpenWait = time.Duration(1+r.IntN(10)) * time.Second
	switch r.IntN(3) {
	case 0:
		c.OpenWaitMultiplier = []float64{1.5, 2, 3}[r.IntN(3)]
		c.MaxOpenWait = c.OpenWait * time.Duration(1+r.IntN(5))
	case 1:
		c.OpenWaitMultiplier = FixedOpenWait
	}
	c.HalfOpenCalls = r.IntN(5)
	if c.HalfOpenCalls > 0 {
		c.HalfOpenSuccesses = r.IntN(c.HalfOpenCalls + 1)
	}
	switch r.IntN(3) {
	case 0:
		c.MaxHalfOpenWait = time.Duration(1+r.IntN(20)) * time.Second
	case 1:
		c.MaxHalfOpenWait = NoMaxHalfOpenWait
	}
	c.DryRun = r.IntN(5) == 0
	return c
}

var (
	errModelFail   = errors.New("model failure")
	errModelIgnore = errors.New("model ignored")
)

// TestMatchesModel drives breakers with random configurations through random
// calls (overlapping, with random outcomes and durations), time steps and
// operator actions, and checks after every step that the breaker admits and
// rejects exactly as the model does and reports the same metrics.
// BULWARK_SEED=n replays one seed.
func TestMatchesModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BULWARK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	runs, steps := 2000, 300
	if testing.Short() {
		runs = 200
	}
	for run := range runs {
		runSeed := seed + uint64(run)
		if err := checkModel(runSeed, steps); err != nil {
			t.Fatalf("BULWARK_SEED=%d: %v", runSeed, err)
		}
	}
	t.Logf("%d random breakers, %d steps each, matched the model (base seed %d)", runs, steps, seed)
}

func checkModel(seed uint64, steps int) error {
	r := rand.New(rand.NewPCG(seed, seed))
	cfg := randomConfig(r)
	fake := clocktest.New(epoch)
	cfg.Clock = fake
	cfg.IsIgnored = func(err error) bool { return errors.Is(err, errModelIgnore) }
	b, err := New(cfg)
	if err != nil {
		return fmt.Errorf("config %+v: %v", cfg, err)
	}
	m := &model{cfg: b.cfg} // the configuration with its defaults filled in
	type held struct {
		real  Permit
		model modelPermit
	}
	var inFlight []held
	var trace []string
	fail := func(format string, args ...any) error {
		return fmt.Errorf("config %+v\n%s\nafter:\n  %s", cfg, fmt.Sprintf(format, args...), strings.Join(trace[max(0, len(trace)-15):], "\n  "))
	}
	step := func(d time.Duration) {
		fake.Advance(d)
		m.now += d
	}
	outcome := func() (failed, ignored bool, err error) {
		switch r.IntN(5) {
		case 0, 1:
			return false, false, nil
		case 2, 3:
			return true, false, errModelFail
		}
		return false, true, errModelIgnore
	}
	for range steps {
		switch k := r.IntN(20); {
		case k < 6: // start a call and hold it
			p, err := b.Allow(bg)
			mp, wait, ok := m.allow()
			trace = append(trace, fmt.Sprintf("t=%v allow: %v (model ok=%v wait=%v)", m.now, err, ok, wait))
			if (err == nil) != ok {
				return fail("Allow = %v, model admits: %v", err, ok)
			}
			var oe *OpenError
			if err != nil && (!errors.As(err, &oe) || oe.RetryAfter() != wait) {
				return fail("rejection %v, want RetryAfter %v", err, wait)
			}
			if ok {
				inFlight = append(inFlight, held{p, mp})
			}
		case k < 11 && len(inFlight) > 0: // finish a held call
			i := r.IntN(len(inFlight))
			h := inFlight[i]
			inFlight = append(inFlight[:i], inFlight[i+1:]...)
			failed, ignored, err := outcome()
			trace = append(trace, fmt.Sprintf("t=%v done(%v) gen %d", m.now, err, h.model.gen))
			h.real.Done(err)
			m.done(h.model, failed, ignored)
		case k < 15: // a whole call through Do, possibly slow, possibly panicking
			failed, ignored, err := outcome()
			d := time.Duration(r.IntN(3)) * time.Second / 2
			panics := r.IntN(10) == 0
			mp, _, ok := m.allow()
			ran := false
			got := func() (got error) {
				defer func() {
					if rec := recover(); rec != nil {
						got = fmt.Errorf("panic %v", rec)
					}
				}()
				return b.Do(bg, func(context.Context) error {
					ran = true
					step(d)
					if panics {
						panic("op")
					}
					return err
				})
			}()
			trace = append(trace, fmt.Sprintf("t=%v do(%v, %v, panics=%v) = %v", m.now, err, d, panics, got))
			if ran != ok {
				return fail("Do ran op: %v, model admits: %v", ran, ok)
			}
			if ok {
				m.done(mp, failed || panics, ignored && !panics)
			}
		case k < 18: // time passes
			d := time.Duration(r.IntN(40)) * cfg.OpenWait / 16
			if r.IntN(2) == 0 {
				d = time.Duration(r.IntN(8)) * 250 * time.Millisecond
			}
			step(d)
			trace = append(trace, fmt.Sprintf("advance %v", d))
		default: // an operator
			switch r.IntN(6) {
			case 0:
				b.ForceOpen()
				m.advance()
				m.become(StateForcedOpen)
				trace = append(trace, "ForceOpen")
			case 1:
				b.Disable()
				m.advance()
				m.become(StateDisabled)
				trace = append(trace, "Disable")
			default:
				b.Reset()
				m.advance()
				m.become(StateClosed)
				trace = append(trace, "Reset")
			}
		}
		if r.IntN(2) == 0 {
			if got, want := b.Metrics(), m.metrics(); got != want {
				return fail("Metrics() = %+v\nmodel       %+v", got, want)
			}
		}
	}
	return nil
}
