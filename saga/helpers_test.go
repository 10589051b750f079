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

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/saga"
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
// effects steps had, and the orchestrators made on them.
type env struct {
	t      *testing.T
	fc     *clocktest.Fake
	store  *saga.MemoryStore
	j      *journal
	timers int // heartbeat timers of the orchestrators made so far
	logs   *syncBuffer
}

func newEnv(t *testing.T) *env {
	leakcheck.Check(t)
	return &env{t: t, fc: clocktest.New(epoch), store: saga.NewMemoryStore(), j: &journal{}, logs: &syncBuffer{}}
}

// config returns a configuration on the fake clock whose heartbeat fires
// only every 20 minutes, so that advancing by seconds never triggers it.
func (e *env) config(mutate ...func(*saga.Config)) saga.Config {
	cfg := saga.DefaultConfig()
	cfg.Clock = e.fc
	cfg.LeaseDuration = time.Hour
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

// orchestrator makes an orchestrator on e's store, closed when the test
// ends, and waits until its heartbeat timer is armed.
func (e *env) orchestrator(def saga.Definition[Order], mutate ...func(*saga.Config)) *saga.Orchestrator[Order] {
	return e.orchestratorOn(e.store, def, mutate...)
}

func (e *env) orchestratorOn(store saga.Store, def saga.Definition[Order], mutate ...func(*saga.Config)) *saga.Orchestrator[Order] {
	e.t.Helper()
	o, err := saga.New(def, store, e.config(mutate...))
	require.NoError(e.t, err)
	e.t.Cleanup(func() { o.Close() })
	e.timers++
	e.fc.BlockUntil(e.timers)
	return o
}

// close closes o, whose heartbeat timer goes away.
func (e *env) close(o *saga.Orchestrator[Order]) {
	e.t.Helper()
	require.NoError(e.t, o.Close())
	e.timers--
}

// waitTimers waits until n timers beyond the heartbeats are armed: a
// backoff, a step timeout, a deadline.
func (e *env) waitTimers(n int) { e.fc.BlockUntil(e.timers + n) }

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

// hookLog records hook calls as strings.
type hookLog struct {
	mu     sync.Mutex
	events []string
}

func (h *hookLog) add(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf(format, args...))
}

func (h *hookLog) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

func (h *hookLog) install(c *saga.Config) {
	name := func(ev saga.StepEvent) string {
		if ev.Compensation {
			return "undo " + ev.Step
		}
		return ev.Step
	}
	c.OnStepStarted = func(ev saga.StepEvent) { h.add("started %s #%d", name(ev), ev.Attempt) }
	c.OnStepCompleted = func(ev saga.StepEvent) { h.add("completed %s #%d", name(ev), ev.Attempt) }
	c.OnStepFailed = func(ev saga.StepEvent) { h.add("failed %s #%d: %v", name(ev), ev.Attempt, ev.Err) }
	c.OnCompensating = func(ev saga.SagaEvent) { h.add("compensating: %v", ev.Err) }
	c.OnFinished = func(ev saga.SagaEvent) { h.add("finished %s", ev.Status) }
}

// finished returns a hook that reports terminal sagas on a channel.
func finished(c chan<- saga.SagaEvent) func(*saga.Config) {
	return func(cfg *saga.Config) { cfg.OnFinished = func(ev saga.SagaEvent) { c <- ev } }
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
