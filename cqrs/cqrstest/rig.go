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

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/retry"
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

// setup is what a test's projector is made of: its configuration (set
// the fields in place), its checkpoint store and its projections.
type setup[Tx any] struct {
	cqrs.Config
	Checkpoints cqrs.Store[Tx]
	Projections []cqrs.Projection[Tx]
}

// config returns a setup for tests: small batches, the system clock,
// leases that never need renewing, quick retries; new events arrive
// through the memory store's notifications.
func (g *rig[Tx]) config(id string, projections ...cqrs.Projection[Tx]) setup[Tx] {
	return setup[Tx]{
		Config: cqrs.Config{
			InstanceID:       id,
			BatchSize:        7,
			PollInterval:     time.Hour,
			LeaseDuration:    time.Hour,
			Backoff:          retry.Exponential{Initial: time.Millisecond},
			MaxDelay:         4 * time.Millisecond,
			WaitPollInterval: 5 * time.Millisecond,
			MaxAttempts:      3,
		},
		Checkpoints: g.h.Store,
		Projections: projections,
	}
}

// newProjector makes the projector of s.
func (g *rig[Tx]) newProjector(s setup[Tx]) (*cqrs.Projector[Tx], error) {
	return cqrs.New(g.events, s.Checkpoints, s.Projections, s.Config)
}

// running is a projector whose Run runs until stop, with what its
// observer and logger reported.
type running[Tx any] struct {
	t       *testing.T
	p       *cqrs.Projector[Tx]
	stop    func()
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when the fields below change
	caught  map[string]int64
	applied map[string][]int64 // events per Applied event
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

// start runs the projector of s, its observer and logger wired to the
// returned running (before s's own observer), and stops it when the test
// ends.
func (g *rig[Tx]) start(s setup[Tx]) *running[Tx] {
	g.t.Helper()
	r := &running[Tx]{t: g.t, changed: make(chan struct{}), caught: map[string]int64{}, applied: map[string][]int64{}}
	s.Observer = bulwark.Observers(bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		switch e := e.(type) {
		case cqrs.Applied:
			r.update(func() { r.applied[e.Projection] = append(r.applied[e.Projection], int64(e.Events)) })
		case cqrs.CaughtUp:
			r.update(func() { r.caught[e.Projection] = e.Position })
		case cqrs.EventFailed:
			r.update(func() {
				r.failed = append(r.failed, failure{projection: e.Projection, position: e.Event.GlobalPosition, attempt: e.Attempt, next: e.Next, err: e.Err})
			})
		}
	}), s.Observer)
	s.Logger = slog.New(&logRecorder{add: r.addLog})
	p, err := g.newProjector(s)
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
