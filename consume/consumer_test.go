package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// gate blocks handlers until opened, per message ID.
type gate struct {
	mu      sync.Mutex
	started map[string]chan struct{}
	release map[string]chan error
}

func newGate() *gate {
	return &gate{started: map[string]chan struct{}{}, release: map[string]chan error{}}
}

func (g *gate) chans(id string) (chan struct{}, chan error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started[id] == nil {
		g.started[id] = make(chan struct{}, 100)
		g.release[id] = make(chan error, 100)
	}
	return g.started[id], g.release[id]
}

// handle blocks until the test finishes the message's run.
func (g *gate) handle(ctx context.Context, m *Message) error {
	started, release := g.chans(m.ID)
	started <- struct{}{}
	select {
	case err := <-release:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) waitStarted(t *testing.T, id string) {
	t.Helper()
	started, _ := g.chans(id)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "handler did not start on "+id)
	}
}

func (g *gate) notStarted(t *testing.T, id string) {
	t.Helper()
	started, _ := g.chans(id)
	select {
	case <-started:
		require.FailNow(t, "handler started on "+id)
	default:
	}
}

func (g *gate) finish(id string, err error) {
	_, release := g.chans(id)
	release <- err
}

func TestBackpressureStopsReceivingWhenMaxPendingHeld(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{Concurrency: 2, MaxPending: 4, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	run(t, c)
	assert.Equal(t, 4, src.waitReceive(t), "the first Receive asks for MaxPending")
	src.send(t, Message{ID: "a", Key: "k"}, Message{ID: "b"})
	assert.Equal(t, 2, src.waitReceive(t), "then for the free room")
	src.send(t, Message{ID: "c", Key: "k"}, Message{ID: "d"})
	g.waitStarted(t, "a")
	g.waitStarted(t, "b")
	time.Sleep(20 * time.Millisecond) // a Receive would come now if it were wrong
	select {
	case n := <-src.receiving:
		t.Fatalf("Receive(%d) called while MaxPending messages were held", n)
	default:
	}
	g.finish("b", nil)
	assert.Equal(t, 1, src.waitReceive(t), "one settled message makes room for one")
	g.waitStarted(t, "d")
	g.notStarted(t, "c")
	g.finish("a", nil)
	g.waitStarted(t, "c")
	g.finish("c", nil)
	g.finish("d", nil)
	eventually(t, "four acks", func() bool { return len(src.calls("ack")) == 4 })
	assert.Equal(t, []string{"ack b", "ack a"}, src.calls("ack")[:2], "in the order the handlers finished")
}

func TestKeysRunSeriallyWithinAndInParallelAcross(t *testing.T) {
	leakcheck.Check(t)
	q := NewMemoryQueue(nil)
	q.Publish(Message{ID: "a1", Key: "a"}, Message{ID: "a2", Key: "a"}, Message{ID: "b1", Key: "b"}, Message{ID: "u1"}, Message{ID: "u2"})
	g := newGate()
	c, err := New(q.Source(), HandlerFunc(g.handle), Config{Concurrency: 8})
	require.NoError(t, err)
	run(t, c)
	for _, id := range []string{"a1", "b1", "u1", "u2"} {
		g.waitStarted(t, id) // all at once: only a2 waits
	}
	g.notStarted(t, "a2")
	g.finish("b1", nil)
	g.finish("u1", nil)
	g.finish("u2", nil)
	eventually(t, "three acks", func() bool { return q.Acked() == 3 })
	g.notStarted(t, "a2")
	g.finish("a1", nil)
	g.waitStarted(t, "a2")
	g.finish("a2", nil)
	eventually(t, "every ack", func() bool { return q.Len() == 0 })
}

// TestHeldRetryDoesNotOccupyAWorker: with one worker, a keyed message held
// for its redelivery lets other keys run; it runs again, with Attempt 2,
// when its delay is over on the clock, and its key's next message after it.
func TestHeldRetryDoesNotOccupyAWorker(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	q := NewMemoryQueue(fc)
	q.Publish(Message{ID: "k1", Key: "k"}, Message{ID: "k2", Key: "k"}, Message{ID: "o1", Key: "o"})
	var mu sync.Mutex
	var runs []string
	ev := &events{}
	c, err := New(q.Source(), HandlerFunc(func(ctx context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		runs = append(runs, m.ID+"@"+fc.Now().Sub(t0).String()+"#"+string(rune('0'+m.Attempt)))
		if m.ID == "k1" && m.Attempt == 1 {
			return errors.New("not yet")
		}
		return nil
	}), Config{Concurrency: 1, Clock: fc, Observer: ev, InPlaceAttempts: NoInPlaceRetries,
		Redelivery: retry.Constant{Delay: time.Minute}, ExtendEvery: time.Hour})
	require.NoError(t, err)
	run(t, c)
	eventually(t, "o1 acked", func() bool { return q.Acked() == 1 })
	waitTimer(t, c, t0.Add(time.Minute))
	mu.Lock()
	assert.Equal(t, []string{"k1@0s#1", "o1@0s#1"}, runs, "o1 ran on the one worker while k1 was held, k2 waits")
	mu.Unlock()
	fc.Advance(time.Minute)
	eventually(t, "all acked", func() bool { return q.Acked() == 3 })
	mu.Lock()
	assert.Equal(t, []string{"k1@0s#1", "o1@0s#1", "k1@1m0s#2", "k2@1m0s#1"}, runs)
	mu.Unlock()
	var red Redelivered
	for _, e := range ev.list() {
		if r, ok := e.(Redelivered); ok {
			red = r
		}
	}
	assert.Equal(t, Redelivered{ID: "k1", Key: "k", Attempt: 1, Delay: time.Minute, InProcess: true, Err: red.Err}, red)
	assert.EqualError(t, red.Err, "not yet")
}

// TestUnkeyedRetryIsHandedBackToTheSource: an unkeyed message that failed
// is redelivered by the Source after the Redelivery delay, with Attempt 2.
func TestUnkeyedRetryIsHandedBackToTheSource(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return errors.New("fails") }),
		Config{InPlaceAttempts: NoInPlaceRetries, Redelivery: retry.Exponential{Initial: time.Second, Jitter: retry.NoJitter}, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "u", Attempt: 3})
	eventually(t, "the redelivery", func() bool { return len(src.calls("redeliver")) == 1 })
	assert.Equal(t, []string{"redeliver(4s) u"}, src.calls("redeliver"), "delay by the failed delivery's Attempt: 1s·2^(3-1)")
}

func TestInPlaceRetriesWaitOnTheClockWithinOneDelivery(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	src := newFakeSource()
	var mu sync.Mutex
	var at []time.Duration
	var attempts []int
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, fc.Now().Sub(t0))
		attempts = append(attempts, m.Attempt)
		if len(at) < 3 {
			return errors.New("blip")
		}
		return nil
	}), Config{Clock: fc, InPlaceAttempts: 2, InPlaceBackoff: retry.Exponential{Initial: 10 * time.Millisecond, Jitter: retry.NoJitter}, InPlaceMaxDelay: 15 * time.Millisecond, ExtendEvery: time.Hour})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "u"})
	fc.BlockUntil(2) // the extend timer and the first in-place wait
	fc.Advance(10 * time.Millisecond)
	fc.BlockUntil(2)
	fc.Advance(15 * time.Millisecond) // 20ms capped at 15ms
	eventually(t, "the ack", func() bool { return len(src.calls("ack")) == 1 })
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []time.Duration{0, 10 * time.Millisecond, 25 * time.Millisecond}, at)
	assert.Equal(t, []int{1, 1, 1}, attempts, "in-place runs keep the delivery's Attempt")
}

// TestExtendCoversEveryHeldMessage: every ExtendEvery, each message held
// (running, waiting behind its key, held for a redelivery) is extended.
func TestExtendCoversEveryHeldMessage(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	src := newFakeSource()
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{Clock: fc, ExtendEvery: 10 * time.Second,
		InPlaceAttempts: NoInPlaceRetries, Redelivery: retry.Constant{Delay: time.Hour}})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "held", Key: "h"}, Message{ID: "behind", Key: "h"}, Message{ID: "running", Key: "r"})
	g.waitStarted(t, "held")
	g.finish("held", errors.New("fails"))
	g.waitStarted(t, "running")
	waitTimer(t, c, t0.Add(10*time.Second))
	src.take()
	fc.Advance(10 * time.Second)
	eventually(t, "three extends", func() bool { return len(src.calls("extend")) == 3 })
	assert.Equal(t, []string{"extend held", "extend behind", "extend running"}, src.calls("extend"))
	waitTimer(t, c, t0.Add(20*time.Second))
	fc.Advance(10 * time.Second)
	eventually(t, "three more", func() bool { return len(src.calls("extend")) == 6 })
	g.finish("running", nil)
	eventually(t, "the ack", func() bool { return len(src.calls("ack")) == 1 })
	waitTimer(t, c, t0.Add(30*time.Second))
	src.take()
	fc.Advance(10 * time.Second)
	eventually(t, "two extends", func() bool { return len(src.calls("extend")) == 2 })
	assert.Equal(t, []string{"extend held", "extend behind"}, src.calls("extend"), "a settled message is not extended")
}

// TestGoneHeldMessageIsDropped: when Extend says a held message is gone, it
// is dropped at once (no Release, no Ack) and its key's next message runs.
func TestGoneHeldMessageIsDropped(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	src := newFakeSource()
	ev := &events{}
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error {
		if m.ID == "held" {
			return errors.New("fails")
		}
		return nil
	}), Config{Clock: fc, Observer: ev, ExtendEvery: 10 * time.Second, InPlaceAttempts: NoInPlaceRetries,
		Redelivery: retry.Constant{Delay: time.Hour}})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	ds := src.send(t, Message{ID: "held", Key: "h"}, Message{ID: "behind", Key: "h"})
	eventually(t, "held held", func() bool { return len(ev.kinds()) == 2 })
	waitTimer(t, c, t0.Add(10*time.Second))
	ds[0].setGone()
	fc.Advance(10 * time.Second)
	eventually(t, "the next message acked", func() bool { return len(src.calls("ack")) == 1 })
	assert.Equal(t, []string{"ack behind"}, src.calls("ack"))
	assert.Empty(t, src.calls("release"))
	assert.Equal(t, []string{"consume.failed", "consume.redelivered", "consume.dropped"}, ev.kinds())
	assert.ErrorIs(t, ev.list()[2].(Dropped).Err, ErrGone)
}

// TestCloseReleasesEverythingHeldThenClosesTheSource: Close lets the
// running handler finish (acked), then releases the held and waiting
// messages in the order received, then closes the Source.
func TestCloseReleasesEverythingHeldThenClosesTheSource(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	src := newFakeSource()
	g := newGate()
	ev := &events{}
	c, err := New(src, HandlerFunc(g.handle), Config{Clock: fc, Observer: ev, InPlaceAttempts: NoInPlaceRetries,
		Redelivery: retry.Constant{Delay: time.Hour}, ExtendEvery: time.Hour})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	src.waitReceive(t)
	src.send(t, Message{ID: "held", Key: "h"}, Message{ID: "behind", Key: "h"}, Message{ID: "running", Key: "r"}, Message{ID: "queued", Key: "r"})
	g.waitStarted(t, "held")
	g.finish("held", errors.New("fails"))
	g.waitStarted(t, "running")
	src.waitReceive(t)
	eventually(t, "held held", func() bool { return len(ev.kinds()) == 2 })
	closed := make(chan error, 1)
	go func() { closed <- c.Close(context.Background()) }()
	eventually(t, "the receive cancelled", func() bool { return c.lc.Closed() })
	g.finish("running", nil)
	require.NoError(t, <-closed)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"ack running", "release held", "release behind", "release queued", "close"}, src.take())
	assert.Equal(t, []string{"consume.failed", "consume.redelivered", "consume.released", "consume.released", "consume.released"}, ev.kinds())
	assert.ErrorIs(t, c.Run(context.Background()), bulwark.ErrClosed)
	assert.NoError(t, c.Close(context.Background()), "Close again")
}

// TestShutdownNeverDeadLetters: a handler failing because Run's context
// ended is released; nothing is dead-lettered, even with MaxAttempts 1;
// the Source stays open for another Run.
func TestShutdownNeverDeadLetters(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	var sink retry.MemorySink[Message]
	ev := &events{}
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{MaxAttempts: 1, DeadLetters: &sink, Observer: ev, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	src.waitReceive(t)
	src.send(t, Message{ID: "m", Key: "k"})
	g.waitStarted(t, "m")
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, []string{"release m"}, src.take(), "released; the Source is not closed")
	assert.Zero(t, sink.Len())
	assert.Equal(t, []string{"consume.released"}, ev.kinds())

	// Another Run continues on the same Source.
	stop := run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "m", Key: "k", Attempt: 2})
	g.waitStarted(t, "m")
	g.finish("m", nil)
	eventually(t, "the ack", func() bool { return len(src.calls("ack")) == 1 })
	require.NoError(t, stop())
	assert.Equal(t, []string{"ack m", "close"}, src.take())
}

// TestCloseTimeoutCancelsHandlers: when Close's context ends first, the
// handlers' context is cancelled and their messages released, not failed.
func TestCloseTimeoutCancelsHandlers(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	var sink retry.MemorySink[Message]
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{MaxAttempts: 1, DeadLetters: &sink, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	src.waitReceive(t)
	src.send(t, Message{ID: "m"})
	g.waitStarted(t, "m")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = c.Close(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "consume: consumer")
	assert.NoError(t, <-done)
	assert.Equal(t, []string{"release m", "close"}, src.take())
	assert.Zero(t, sink.Len())
}

func TestDeadLetters(t *testing.T) {
	errBad := errors.New("bad")
	for _, tc := range []struct {
		name    string
		cfg     Config
		err     error
		attempt int
		reason  error
		runs    int
	}{
		{"permanent", Config{InPlaceAttempts: 3}, Permanent(errBad), 1, retry.ErrNotRetryable, 1},
		{"retry.Permanent", Config{InPlaceAttempts: 3}, retry.Permanent(errBad), 1, retry.ErrNotRetryable, 1},
		{"RetryIf", Config{InPlaceAttempts: 3, RetryIf: func(err error) bool { return !errors.Is(err, errBad) }}, errBad, 1, retry.ErrNotRetryable, 1},
		{"MaxAttempts", Config{InPlaceAttempts: 2, MaxAttempts: 3}, errBad, 3, retry.ErrMaxAttempts, 3},
		{"beyond MaxAttempts", Config{InPlaceAttempts: NoInPlaceRetries, MaxAttempts: 3}, errBad, 7, retry.ErrMaxAttempts, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			src := newFakeSource()
			var sink retry.MemorySink[Message]
			ev := &events{}
			tc.cfg.DeadLetters, tc.cfg.Observer = &sink, ev
			tc.cfg.InPlaceBackoff = retry.Constant{}
			c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return tc.err }), tc.cfg)
			require.NoError(t, err)
			run(t, c)
			src.waitReceive(t)
			src.send(t, Message{ID: "m", Key: "k", Payload: []byte("p"), Attempt: tc.attempt})
			eventually(t, "the dead letter", func() bool { k := ev.kinds(); return len(k) > 0 && k[len(k)-1] == "consume.dead_lettered" })
			assert.Equal(t, []string{"ack m"}, src.calls("ack"))
			require.Equal(t, 1, sink.Len())
			l := sink.Letters()[0]
			assert.Equal(t, Message{ID: "m", Key: "k", Payload: []byte("p"), Attempt: tc.attempt}, l.Item)
			assert.ErrorIs(t, l.Err, tc.reason)
			assert.ErrorIs(t, l.Err, errBad)
			assert.Len(t, l.Attempts, tc.runs)
			kinds := ev.kinds()
			assert.Equal(t, "consume.dead_lettered", kinds[len(kinds)-1])
			dl := ev.list()[len(kinds)-1].(DeadLettered)
			assert.Equal(t, tc.runs, dl.Runs)
			assert.Equal(t, tc.reason, dl.Reason)
			assert.ErrorIs(t, dl.Err, errBad)
		})
	}
}

// TestWithoutSinkAMessageIsNeverDropped: a message that would be
// dead-lettered, with no sink, is redelivered after RedeliveryMaxDelay.
func TestWithoutSinkAMessageIsNeverDropped(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return Permanent(errors.New("bad")) }),
		Config{RedeliveryMaxDelay: time.Hour, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "m"})
	eventually(t, "the redelivery", func() bool { return len(src.calls("redeliver")) == 1 })
	assert.Equal(t, []string{"redeliver(1h0m0s) m"}, src.calls("redeliver"))
	assert.Empty(t, src.calls("ack"))
}

// failingSink fails its first n letters.
type failingSink struct {
	retry.MemorySink[Message]
	mu    sync.Mutex
	fails int
}

func (s *failingSink) DeadLetter(ctx context.Context, l retry.DeadLetter[Message]) error {
	s.mu.Lock()
	if s.fails > 0 {
		s.fails--
		s.mu.Unlock()
		return errors.New("sink down")
	}
	s.mu.Unlock()
	return s.MemorySink.DeadLetter(ctx, l)
}

// TestFailedSinkKeepsTheMessage: when the sink fails, the message is not
// acknowledged but redelivered, and dead-lettered on a later delivery.
func TestFailedSinkKeepsTheMessage(t *testing.T) {
	leakcheck.Check(t)
	q := NewMemoryQueue(nil)
	q.Publish(Message{ID: "m"})
	sink := &failingSink{fails: 1}
	c, err := New(q.Source(), HandlerFunc(func(ctx context.Context, m *Message) error { return Permanent(errors.New("bad")) }),
		Config{DeadLetters: sink, Redelivery: retry.Constant{Delay: time.Millisecond}})
	require.NoError(t, err)
	run(t, c)
	eventually(t, "the dead letter", func() bool { return q.Acked() == 1 })
	require.Equal(t, 1, sink.Len())
	assert.Equal(t, 2, sink.Letters()[0].Item.Attempt)
}

func TestRunEndsWhenTheSourceFails(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{Clock: clocktest.New(t0)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	src.waitReceive(t)
	src.send(t, Message{ID: "m"})
	g.waitStarted(t, "m")
	src.waitReceive(t)
	boom := errors.New("connection lost for good")
	src.recvErr <- boom
	g.finish("m", nil)
	err = <-done
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "consume: receiving")
	assert.Equal(t, []string{"ack m"}, src.take(), "the running handler finished; the Source stays open until Close")
	require.NoError(t, c.Close(context.Background()))
	assert.Equal(t, []string{"close"}, src.take())
}

func TestLifecycle(t *testing.T) {
	leakcheck.Check(t)
	_, err := New(nil, HandlerFunc(func(context.Context, *Message) error { return nil }), Config{})
	assert.EqualError(t, err, "consume: New needs a Source, got nil")
	_, err = New(newFakeSource(), nil, Config{})
	assert.EqualError(t, err, "consume: New needs a Handler, got nil")
	assert.PanicsWithValue(t, "consume: Consumer used without New", func() { _ = (&Consumer{}).Run(context.Background()) })

	src := newFakeSource()
	c, err := New(src, HandlerFunc(func(context.Context, *Message) error { return nil }), Config{})
	require.NoError(t, err)
	stop := run(t, c)
	src.waitReceive(t)
	assert.ErrorIs(t, c.Run(context.Background()), bulwark.ErrRunning)
	require.NoError(t, stop())
	assert.ErrorIs(t, c.Run(context.Background()), bulwark.ErrClosed)

	// Close before Run closes the Source.
	src = newFakeSource()
	c, err = New(src, HandlerFunc(func(context.Context, *Message) error { return nil }), Config{})
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
	assert.Equal(t, []string{"close"}, src.take())
}

// TestDeadLetterKeepsTheLastRuns: a dead letter's history holds the last
// 100 runs, numbered by their place among all runs.
func TestDeadLetterKeepsTheLastRuns(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	var sink retry.MemorySink[Message]
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return errors.New("fails") }), Config{
		Clock: clocktest.New(t0), DeadLetters: &sink, MaxAttempts: 2, InPlaceAttempts: 100,
		InPlaceBackoff: retry.Constant{}, Redelivery: retry.Constant{},
	})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "m", Key: "k"})
	eventually(t, "the dead letter", func() bool { return sink.Len() == 1 })
	l := sink.Letters()[0]
	require.Len(t, l.Attempts, 100)
	assert.Equal(t, 103, l.Attempts[0].Number)
	assert.Equal(t, 202, l.Attempts[99].Number, "2 deliveries of 101 runs")
	assert.Equal(t, 2, l.Item.Attempt)
}

// TestGoneAckIsDropped: an Ack that fails with ErrGone is reported Dropped,
// and the key's next message runs.
func TestGoneAckIsDropped(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	ev := &events{}
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return nil }), Config{Clock: clocktest.New(t0), Observer: ev})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.setGone("a")
	src.send(t, Message{ID: "a", Key: "k"}, Message{ID: "b", Key: "k"})
	eventually(t, "both settled", func() bool { return len(src.calls("ack")) == 2 })
	eventually(t, "the event", func() bool { return len(ev.kinds()) == 1 })
	d := ev.list()[0].(Dropped)
	assert.Equal(t, "a", d.ID)
	assert.ErrorIs(t, d.Err, ErrGone)
	assert.Equal(t, []string{"ack a", "ack b"}, src.calls("ack"))
}

// TestConcurrencyBoundsRunningHandlers: at most Concurrency handlers run
// at once, however many messages are ready.
func TestConcurrencyBoundsRunningHandlers(t *testing.T) {
	leakcheck.Check(t)
	q := NewMemoryQueue(nil)
	for range 10 {
		q.Publish(Message{})
	}
	var mu sync.Mutex
	running, most := 0, 0
	release := make(chan struct{})
	c, err := New(q.Source(), HandlerFunc(func(ctx context.Context, m *Message) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}), Config{Concurrency: 3})
	require.NoError(t, err)
	run(t, c)
	eventually(t, "three running", func() bool { mu.Lock(); defer mu.Unlock(); return running == 3 })
	time.Sleep(20 * time.Millisecond) // a fourth would start now if it were wrong
	mu.Lock()
	assert.Equal(t, 3, running)
	mu.Unlock()
	close(release)
	eventually(t, "all acked", func() bool { return q.Acked() == 10 })
	assert.Equal(t, 3, most)
}

// TestRetryIfIsNotAskedAboutShutdown: a handler error caused by the
// Consumer's shutdown is not shown to RetryIf, and not reported Failed.
func TestRetryIfIsNotAskedAboutShutdown(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	g := newGate()
	ev := &events{}
	asked := 0
	c, err := New(src, HandlerFunc(g.handle), Config{Clock: clocktest.New(t0), Observer: ev, RetryIf: func(error) bool { asked++; return false }})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	src.waitReceive(t)
	src.send(t, Message{ID: "m"})
	g.waitStarted(t, "m")
	cancel()
	<-done
	assert.Zero(t, asked)
	assert.Equal(t, []string{"consume.released"}, ev.kinds())
	require.NoError(t, c.Close(context.Background()))
}

// TestDeadLetterHistoryHasTheWaits: each run in a dead letter's history
// carries the wait chosen after it: in place, then the redelivery delay,
// none after the last.
func TestDeadLetterHistoryHasTheWaits(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	src := newFakeSource()
	var sink retry.MemorySink[Message]
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return errors.New("fails") }), Config{
		Clock: fc, DeadLetters: &sink, MaxAttempts: 2, InPlaceAttempts: 1, ExtendEvery: time.Hour,
		InPlaceBackoff: retry.Constant{Delay: 5 * time.Millisecond}, Redelivery: retry.Constant{Delay: time.Minute},
	})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "m", Key: "k"})
	fc.BlockUntil(2) // the extend timer and the in-place wait
	fc.Advance(5 * time.Millisecond)
	waitTimer(t, c, t0.Add(time.Minute+5*time.Millisecond))
	fc.Advance(time.Minute)
	fc.BlockUntil(2)
	fc.Advance(5 * time.Millisecond)
	eventually(t, "the dead letter", func() bool { return sink.Len() == 1 })
	var waits []time.Duration
	var starts []time.Duration
	for _, a := range sink.Letters()[0].Attempts {
		waits = append(waits, a.Delay)
		starts = append(starts, a.Start.Sub(t0))
	}
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{5 * ms, time.Minute, 5 * ms, 0}, waits)
	assert.Equal(t, []time.Duration{0, 5 * ms, time.Minute + 5*ms, time.Minute + 10*ms}, starts)
}

// noReceive checks that the Consumer does not call Receive now.
func noReceive(t *testing.T, src *fakeSource, why string) {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // a Receive would come now if it were wrong
	select {
	case n := <-src.receiving:
		t.Fatalf("Receive(%d) called: %s", n, why)
	default:
	}
}

// TestReceivesInBatchesWhenBusy: with its workers busy, the Consumer waits
// for a quarter of MaxPending to be free before it receives again.
func TestReceivesInBatchesWhenBusy(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{Concurrency: 2, MaxPending: 8, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	run(t, c)
	assert.Equal(t, 8, src.waitReceive(t))
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var msgs []Message
	for _, id := range ids {
		msgs = append(msgs, Message{ID: id})
	}
	src.send(t, msgs...)
	g.waitStarted(t, "a")
	g.waitStarted(t, "b")
	g.finish("a", nil)
	g.waitStarted(t, "c")
	noReceive(t, src, "one slot free while the workers are busy")
	g.finish("b", nil)
	assert.Equal(t, 2, src.waitReceive(t), "a quarter of MaxPending free")
	for _, id := range ids[2:] {
		g.finish(id, nil)
	}
}

// TestReceivesAtOnceWhenAWorkerIsIdle: when a worker has nothing to run
// (here, every held message waits for one key), any free room is filled.
func TestReceivesAtOnceWhenAWorkerIsIdle(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	g := newGate()
	c, err := New(src, HandlerFunc(g.handle), Config{Concurrency: 2, MaxPending: 8, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	run(t, c)
	assert.Equal(t, 8, src.waitReceive(t))
	var msgs []Message
	for i := range 8 {
		msgs = append(msgs, Message{ID: fmt.Sprint("k", i), Key: "k"})
	}
	src.send(t, msgs...)
	g.waitStarted(t, "k0")
	noReceive(t, src, "nothing free")
	g.finish("k0", nil)
	g.waitStarted(t, "k1")
	assert.Equal(t, 1, src.waitReceive(t), "a worker idle, one slot free")
	src.send(t, Message{ID: "x"})
	g.waitStarted(t, "x")
	g.finish("x", nil)
	assert.Equal(t, 1, src.waitReceive(t), "again")
	for i := 1; i < 8; i++ {
		if i > 1 {
			g.waitStarted(t, fmt.Sprint("k", i))
		}
		g.finish(fmt.Sprint("k", i), nil)
	}
	eventually(t, "every ack", func() bool { return len(src.calls("ack")) == 9 })
}

// TestCloseAbandonsAnInPlaceWait: a message waiting between in-place
// retries is released by Close, not run again.
func TestCloseAbandonsAnInPlaceWait(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	src := newFakeSource()
	var mu sync.Mutex
	runs := 0
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		runs++
		return errors.New("blip")
	}), Config{Clock: fc, InPlaceAttempts: 1, InPlaceBackoff: retry.Constant{Delay: time.Hour}, InPlaceMaxDelay: time.Minute, ExtendEvery: time.Hour})
	require.NoError(t, err)
	stop := run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "m"})
	fc.BlockUntil(2) // the extend timer and the in-place wait
	require.NoError(t, stop())
	assert.Equal(t, []string{"release m", "close"}, src.take())
	mu.Lock()
	assert.Equal(t, 1, runs)
	mu.Unlock()
}
