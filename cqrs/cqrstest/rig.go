package cqrstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait of the suite for a projector.
const waitTimeout = 30 * time.Second

// rig is the event store and read model the projectors of a test share.
type rig[Tx any] struct {
	t      *testing.T
	h      Harness[Tx]
	events *eventsource.MemoryStore
	mu     sync.Mutex
	next   int // events appended so far
}

func newRig[Tx any](t *testing.T, h Harness[Tx]) *rig[Tx] {
	return &rig[Tx]{t: t, h: h, events: eventsource.NewMemoryStore()}
}

// appendEvents appends n events, to five streams in turn, with types
// "a.event" and "b.event" in turn, and returns the last position.
func (g *rig[Tx]) appendEvents(n int) int64 {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	var last int64
	for range n {
		i := g.next
		g.next++
		typ := "a.event"
		if i%2 == 1 {
			typ = "b.event"
		}
		res, err := g.events.Append(context.Background(), fmt.Sprintf("stream-%d", i%5), eventsource.Any,
			eventsource.EventData{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		require.NoError(g.t, err)
		last = res.GlobalPosition
	}
	return last
}

// recording returns a projection that records each event's position in the
// read model under table (its name, unless given), calling seen first.
func (g *rig[Tx]) recording(name string, seen func(e eventsource.Event) error) cqrs.Projection[Tx] {
	return g.recordingInto(name, name, seen)
}

func (g *rig[Tx]) recordingInto(name, table string, seen func(e eventsource.Event) error) cqrs.Projection[Tx] {
	return cqrs.Projection[Tx]{
		Name: name,
		Handle: func(ctx context.Context, tx Tx, e eventsource.Event) error {
			if seen != nil {
				if err := seen(e); err != nil {
					return err
				}
			}
			return g.h.Record(ctx, tx, table, e.GlobalPosition)
		},
		Reset: func(ctx context.Context, tx Tx) error { return g.h.Clear(ctx, tx, table) },
	}
}

// config returns a configuration for tests: small batches, the system
// clock, leases that never need renewing, quick retries; new events arrive
// through the memory store's notifications.
func (g *rig[Tx]) config(id string, projections ...cqrs.Projection[Tx]) cqrs.Config[Tx] {
	cfg := cqrs.DefaultConfig[Tx]()
	cfg.Events, cfg.Checkpoints, cfg.Projections = g.events, g.h.Store, projections
	cfg.InstanceID = id
	cfg.BatchSize = 7
	cfg.PollInterval, cfg.LeaseDuration = time.Hour, time.Hour
	cfg.RetryDelay, cfg.MaxRetryDelay = time.Millisecond, 4*time.Millisecond
	cfg.WaitPollInterval = 5 * time.Millisecond
	cfg.MaxAttempts = 3
	return cfg
}

// running is a projector whose Run runs until stop, with what its hooks
// and logger reported.
type running[Tx any] struct {
	t       *testing.T
	p       *cqrs.Projector[Tx]
	stop    func()
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the fields below change
	caught  map[string]int64
	applied map[string][]int64 // events per OnApplied call
	failed  []failure
	logs    []string
}

type failure struct {
	projection string
	position   int64
	attempt    int
	next       cqrs.Action
	err        error
}

// start runs a projector with cfg, its hooks and logger wired to the
// returned running, and stops it when the test ends.
func (g *rig[Tx]) start(cfg cqrs.Config[Tx]) *running[Tx] {
	g.t.Helper()
	r := &running[Tx]{t: g.t, changed: make(chan struct{}), caught: map[string]int64{}, applied: map[string][]int64{}}
	onApplied, onCaughtUp, onFailed := cfg.OnApplied, cfg.OnCaughtUp, cfg.OnFailed
	cfg.OnApplied = func(name string, pos int64, n int) {
		r.update(func() { r.applied[name] = append(r.applied[name], int64(n)) })
		if onApplied != nil {
			onApplied(name, pos, n)
		}
	}
	cfg.OnCaughtUp = func(name string, pos int64) {
		r.update(func() { r.caught[name] = pos })
		if onCaughtUp != nil {
			onCaughtUp(name, pos)
		}
	}
	cfg.OnFailed = func(name string, f cqrs.EventFailure) {
		r.update(func() {
			r.failed = append(r.failed, failure{projection: name, position: f.Event.GlobalPosition, attempt: f.Attempt, next: f.Next, err: f.Err})
		})
		if onFailed != nil {
			onFailed(name, f)
		}
	}
	cfg.Logger = slog.New(&logRecorder{add: r.addLog})
	p, err := cqrs.New(cfg)
	require.NoError(g.t, err)
	r.p = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.ErrorIs(g.t, err, context.Canceled)
			case <-time.After(waitTimeout):
				g.t.Errorf("Projector.Run did not return after its context was canceled")
			}
		})
	}
	g.t.Cleanup(r.stop)
	return r
}

func (r *running[Tx]) update(f func()) {
	r.mu.Lock()
	f()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// waitFor waits until cond, read under the lock, holds.
func (r *running[Tx]) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		ok, changed := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			buf := make([]byte, 1<<20)
			r.t.Fatalf("projector %s: timed out waiting until %s\n%s", r.p.InstanceID(), what, buf[:runtime.Stack(buf, true)])
		}
	}
}

// waitCaughtUp waits until the projection reports it caught up at pos.
func (r *running[Tx]) waitCaughtUp(name string, pos int64) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%s caught up at %d", name, pos), func() bool { return r.caught[name] == pos })
}

// forget drops what the projection reported catching up at.
func (r *running[Tx]) forget(name string) {
	r.update(func() { delete(r.caught, name) })
}

// waitFailures waits until n failures were reported, and returns them.
func (r *running[Tx]) waitFailures(n int) []failure {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%d failures are reported", n), func() bool { return len(r.failed) >= n })
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failed)
}

// waitLog waits until a log message containing text was written.
func (r *running[Tx]) waitLog(text string) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("the log says %q", text), func() bool {
		return slices.ContainsFunc(r.logs, func(m string) bool { return strings.Contains(m, text) })
	})
}

func (r *running[Tx]) status(name string, version int) cqrs.Status {
	r.t.Helper()
	all, err := r.p.Status(context.Background())
	require.NoError(r.t, err)
	for _, s := range all {
		if s.Name == name && s.Version == version {
			return s
		}
	}
	r.t.Fatalf("no status of %s version %d in %+v", name, version, all)
	return cqrs.Status{}
}

func (r *running[Tx]) addLog(m string) { r.update(func() { r.logs = append(r.logs, m) }) }

// logRecorder hands a logger's messages, with their attributes, to add.
type logRecorder struct {
	add   func(string)
	attrs []slog.Attr
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	for _, a := range l.attrs {
		b.WriteString(" " + a.String())
	}
	rec.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.add(b.String())
	return nil
}

func (l *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{add: l.add, attrs: append(slices.Clone(l.attrs), as...)}
}

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// positions returns from..to.
func positions(from, to int64) []int64 {
	var out []int64
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}

// killableStore is a checkpoint store that fails every call once killed:
// what a projector cut off from the database, or dead, can do.
type killableStore[Tx any] struct {
	cqrs.Store[Tx]
	killed atomic.Bool
}

var errKilled = errors.New("cqrstest: the projector was killed")

func (k *killableStore[Tx]) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error) error {
	if k.killed.Load() {
		return errKilled
	}
	return k.Store.Update(ctx, name, version, fn)
}

func (k *killableStore[Tx]) List(ctx context.Context) ([]cqrs.Checkpoint, error) {
	if k.killed.Load() {
		return nil, errKilled
	}
	return k.Store.List(ctx)
}
