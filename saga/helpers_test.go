package saga_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Order is the saga data of these tests.
type Order struct {
	ID          string   `json:"id"`
	Trail       []string `json:"trail,omitempty"`
	Reservation string   `json:"reservation,omitempty"`
	Charge      string   `json:"charge,omitempty"`
	Amount      float64  `json:"amount"`
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// env is one test's world: a fake clock, a memory store, a journal of the
// effects steps had, a record of the events reported, and the orchestrators
// made on them. Every goroutine the test started must be gone when it ends.
type env struct {
	t      *testing.T
	fc     *clocktest.Fake
	clk    *timers
	store  *saga.MemoryStore
	j      *journal
	events *recorder
	logs   *syncBuffer
}

func newEnv(t *testing.T) *env {
	leakcheck.Check(t)
	fc := clocktest.New(epoch)
	return &env{
		t: t, fc: fc, clk: newTimers(fc), store: saga.NewMemoryStore(),
		j: &journal{}, events: newRecorder(), logs: &syncBuffer{},
	}
}

// heartbeat is the heartbeat's interval under env's config: a third of the
// lease. Tests that advance by less never trigger it.
const heartbeat = 20 * time.Minute

// config returns a configuration on the fake clock with leases of an hour
// (so a heartbeat every 20 minutes) that reports to e.events.
func (e *env) config(mutate ...func(*saga.Config)) saga.Config {
	cfg := saga.Config{
		Clock:         e.clk,
		LeaseDuration: 3 * heartbeat,
		Logger:        slog.New(slog.NewTextHandler(e.logs, nil)),
		Observer:      e.events,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

// orchestrator makes an orchestrator on e's store, closed when the test
// ends.
func (e *env) orchestrator(def saga.Definition[Order], mutate ...func(*saga.Config)) *saga.Orchestrator[Order] {
	return e.orchestratorOn(e.store, def, mutate...)
}

func (e *env) orchestratorOn(store saga.Store, def saga.Definition[Order], mutate ...func(*saga.Config)) *saga.Orchestrator[Order] {
	e.t.Helper()
	o, err := saga.New(def, store, e.config(mutate...))
	require.NoError(e.t, err)
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(e.t, o.Close(ctx))
	})
	return o
}

// timers is the fake clock, keeping track of the timers armed on it so
// that a test can wait for the one it means (a backoff, Run's poll, the
// heartbeat, a deadline) by its duration.
type timers struct {
	*clocktest.Fake
	mu    sync.Mutex
	cond  *sync.Cond
	armed []*armedTimer
}

type armedTimer struct {
	clock.Timer
	c       *timers
	d       time.Duration
	at      time.Time
	stopped bool
}

func newTimers(fc *clocktest.Fake) *timers {
	c := &timers{Fake: fc}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *timers) NewTimer(d time.Duration) clock.Timer {
	at := c.Fake.Now().Add(d)
	t := &armedTimer{Timer: c.Fake.NewTimer(d), c: c, d: d, at: at}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = append(c.armed, t)
	c.cond.Broadcast()
	return t
}

func (t *armedTimer) Stop() bool {
	t.c.mu.Lock()
	t.stopped = true
	t.c.cond.Broadcast()
	t.c.mu.Unlock()
	return t.Timer.Stop()
}

// live returns the durations of the timers waiting to fire; the caller
// holds mu.
func (c *timers) live() []time.Duration {
	now := c.Fake.Now()
	var out []time.Duration
	for _, t := range c.armed {
		if !t.stopped && t.at.After(now) {
			out = append(out, t.d)
		}
	}
	return out
}

// Live returns the durations of the timers waiting to fire.
func (c *timers) Live() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live()
}

// WaitFor waits until a timer whose duration is in [lo, hi] waits to fire,
// and returns its duration.
func (c *timers) WaitFor(lo, hi time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, d := range c.live() {
			if d >= lo && d <= hi {
				return d
			}
		}
		c.cond.Wait()
	}
}

// Wait waits until a timer of duration d waits to fire.
func (c *timers) Wait(d time.Duration) { c.WaitFor(d, d) }

// recorder is an Observer keeping every event, as text for comparisons and
// as reported, with its context.
type recorder struct {
	mu       sync.Mutex
	lines    []string
	events   []bulwark.Event
	ctxs     []context.Context
	finished chan saga.Finished // every Finished event, in order
}

func newRecorder() *recorder { return &recorder{finished: make(chan saga.Finished, 100)} }

func (r *recorder) Observe(ctx context.Context, ev bulwark.Event) {
	r.mu.Lock()
	r.lines = append(r.lines, describe(ev))
	r.events = append(r.events, ev)
	r.ctxs = append(r.ctxs, ctx)
	r.mu.Unlock()
	if f, ok := ev.(saga.Finished); ok {
		r.finished <- f
	}
}

func describe(ev bulwark.Event) string {
	name := func(inv saga.Invocation) string {
		if inv.Compensation {
			return "undo " + inv.Step
		}
		return inv.Step
	}
	switch ev := ev.(type) {
	case saga.StepStarted:
		return fmt.Sprintf("started %s #%d", name(ev.Invocation), ev.Attempt)
	case saga.StepCompleted:
		return fmt.Sprintf("completed %s #%d", name(ev.Invocation), ev.Attempt)
	case saga.StepFailed:
		return fmt.Sprintf("failed %s #%d: %v", name(ev.Invocation), ev.Attempt, ev.Err)
	case saga.Retrying:
		return fmt.Sprintf("retrying %s after #%d: %v", name(ev.Invocation), ev.Attempt, ev.Err)
	case saga.CompensationStarted:
		return fmt.Sprintf("compensating: %v", ev.Err)
	case saga.Finished:
		return fmt.Sprintf("finished %s", ev.Status)
	case saga.TakenOver:
		return fmt.Sprintf("taken over %s: %s at %q", ev.SagaID, ev.Status, ev.Step)
	case saga.Stopped:
		return fmt.Sprintf("stopped %s: %v", ev.SagaID, ev.Err)
	}
	return ev.Kind()
}

func (r *recorder) all() []bulwark.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bulwark.Event(nil), r.events...)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// journal records, in order, the effects steps took, by idempotency key,
// as a service deduplicating by key would.
type journal struct {
	mu      sync.Mutex
	effects []string
}

func (j *journal) record(inv saga.Invocation) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !slices.Contains(j.effects, inv.Key()) {
		j.effects = append(j.effects, inv.Key())
	}
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.effects...)
}

// fails returns a behaviour failing the first n invocations with err.
func fails(n int, err error) func(saga.Invocation) error {
	return func(inv saga.Invocation) error {
		if inv.Attempt <= n {
			return err
		}
		return nil
	}
}

func always(err error) func(saga.Invocation) error {
	return func(saga.Invocation) error { return err }
}

// step returns a step that records its effect in j and appends its name to
// the data's trail; action and undo, when not nil, decide whether an
// invocation fails instead (before taking effect).
func (e *env) step(name string, kind saga.Kind, action, undo func(saga.Invocation) error) saga.Step[Order] {
	s := saga.Step[Order]{
		Name: name, Kind: kind,
		Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
			if action != nil {
				if err := action(inv); err != nil {
					return err
				}
			}
			e.j.record(inv)
			o.Trail = append(o.Trail, name)
			return nil
		},
	}
	if kind == saga.Compensatable {
		s.Compensate = func(ctx context.Context, o *Order, inv saga.Invocation) error {
			if undo != nil {
				if err := undo(inv); err != nil {
					return err
				}
			}
			e.j.record(inv)
			o.Trail = append(o.Trail, "undo "+name)
			return nil
		}
	}
	return s
}

func def(steps ...saga.Step[Order]) saga.Definition[Order] {
	return saga.Definition[Order]{Name: "order", Steps: steps}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
