package bulwark_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// worker is a Service that follows the lifecycle: Run blocks until ctx ends
// or Close, or returns fail when it is set.
type worker struct {
	name    string
	log     *[]string
	logMu   *sync.Mutex
	fail    error
	running atomic.Bool

	once   sync.Once
	closed chan struct{}
	exited chan struct{}
}

func newWorker(name string, log *[]string, mu *sync.Mutex) *worker {
	return &worker{name: name, log: log, logMu: mu, closed: make(chan struct{}), exited: make(chan struct{})}
}

func (w *worker) note(s string) {
	w.logMu.Lock()
	*w.log = append(*w.log, s)
	w.logMu.Unlock()
}

func (w *worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return bulwark.ErrRunning
	}
	defer close(w.exited)
	if w.fail != nil {
		return w.fail
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-w.closed:
		return nil
	}
}

func (w *worker) Close(ctx context.Context) error {
	w.note("close " + w.name)
	w.once.Do(func() { close(w.closed) })
	if !w.running.Load() {
		return nil
	}
	select {
	case <-w.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestGroupStopClosesLastStartedFirstAndWaits(t *testing.T) {
	var (
		log []string
		mu  sync.Mutex
	)
	a, b := newWorker("a", &log, &mu), newWorker("b", &log, &mu)
	g := bulwark.Start(context.Background(), a, b)
	require.NoError(t, g.Stop(context.Background()))
	assert.Equal(t, []string{"close b", "close a"}, log)
	select {
	case <-g.Done():
	default:
		t.Fatal("Done is not closed after Stop returned nil")
	}
	assert.NoError(t, g.Err())
}

func TestGroupFailureCancelsTheOthers(t *testing.T) {
	var (
		log []string
		mu  sync.Mutex
	)
	boom := errors.New("boom")
	a, b := newWorker("a", &log, &mu), newWorker("b", &log, &mu)
	b.fail = boom
	g := bulwark.Start(context.Background(), a, b)
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a failed Run did not stop the group")
	}
	assert.ErrorIs(t, g.Err(), boom)
	err := g.Stop(context.Background())
	assert.ErrorIs(t, err, boom, "Stop reports the failure")
}

func TestGroupEndsWithItsContextWithoutFailing(t *testing.T) {
	var (
		log []string
		mu  sync.Mutex
	)
	ctx, cancel := context.WithCancel(context.Background())
	g := bulwark.Start(ctx, newWorker("a", &log, &mu))
	cancel()
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not end with its context")
	}
	assert.NoError(t, g.Err(), "the end of the context is a stop, not a failure")
	assert.NoError(t, g.Stop(context.Background()))
}

// stuck is a Service whose Close never finishes draining.
type stuck struct{ release chan struct{} }

func (s stuck) Run(ctx context.Context) error { <-s.release; return nil }
func (s stuck) Close(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestGroupStopGivesUpWithItsContext(t *testing.T) {
	s := stuck{release: make(chan struct{})}
	defer close(s.release)
	g := bulwark.Start(context.Background(), s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := g.Stop(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
