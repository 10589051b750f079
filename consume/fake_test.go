package consume

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/stretchr/testify/require"
)

// fakeSource is a Source the test feeds by hand, logging every call made
// on it and its deliveries.
type fakeSource struct {
	batches   chan []Delivery
	receiving chan int // each Receive's max
	recvErr   chan error

	mu   sync.Mutex
	log  []string
	gone map[string]bool // IDs whose every delivery is gone

	// With async set, deliveries are AsyncAckers: AckAsync is logged as
	// "ackasync <id>" and its done kept here until the test confirms it.
	async bool
	dones map[string]AckDone
}

func newFakeSource() *fakeSource {
	return &fakeSource{batches: make(chan []Delivery), receiving: make(chan int, 1000), recvErr: make(chan error, 1)}
}

func (s *fakeSource) Receive(ctx context.Context, max int) ([]Delivery, error) {
	s.receiving <- max
	select {
	case b := <-s.batches:
		return b, nil
	case err := <-s.recvErr:
		return nil, err
	case <-ctx.Done():
		return nil, fmt.Errorf("fake: %w", ctx.Err())
	}
}

func (s *fakeSource) Close(context.Context) error {
	s.record("close")
	return nil
}

func (s *fakeSource) record(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, e)
}

// take returns the log so far and empties it.
func (s *fakeSource) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

// calls returns the log entries that start with prefix.
func (s *fakeSource) calls(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.log {
		if len(e) >= len(prefix) && e[:len(prefix)] == prefix {
			out = append(out, e)
		}
	}
	return out
}

// waitReceive waits for the Consumer to call Receive and returns its max.
func (s *fakeSource) waitReceive(t *testing.T) int {
	t.Helper()
	select {
	case n := <-s.receiving:
		return n
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Receive was not called")
		return 0
	}
}

// send has the pending Receive return msgs (each with Attempt 1 unless set).
func (s *fakeSource) send(t *testing.T, msgs ...Message) []*fakeDelivery {
	t.Helper()
	var ds []Delivery
	var fds []*fakeDelivery
	for _, m := range msgs {
		if m.Attempt == 0 {
			m.Attempt = 1
		}
		d := &fakeDelivery{s: s, m: m}
		if s.async {
			ds = append(ds, asyncDelivery{d})
		} else {
			ds = append(ds, d)
		}
		fds = append(fds, d)
	}
	select {
	case s.batches <- ds:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Receive was not waiting")
	}
	return fds
}

type fakeDelivery struct {
	s *fakeSource
	m Message

	mu   sync.Mutex
	gone bool
	busy bool // a call is in flight: the Consumer must not make two at once
}

// setGone makes every delivery of the message id gone.
func (s *fakeSource) setGone(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone == nil {
		s.gone = map[string]bool{}
	}
	s.gone[id] = true
}

func (d *fakeDelivery) setGone() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gone = true
}

func (d *fakeDelivery) Message() *Message { return &d.m }

func (d *fakeDelivery) call(what string) error {
	d.mu.Lock()
	if d.busy {
		d.mu.Unlock()
		panic("two calls at once on one delivery")
	}
	d.busy = true
	gone := d.gone
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.busy = false
		d.mu.Unlock()
	}()
	d.s.record(what + " " + d.m.ID)
	d.s.mu.Lock()
	gone = gone || d.s.gone[d.m.ID]
	d.s.mu.Unlock()
	if gone {
		return fmt.Errorf("fake: %w", ErrGone)
	}
	return nil
}

func (d *fakeDelivery) Ack(context.Context) error     { return d.call("ack") }
func (d *fakeDelivery) Release(context.Context) error { return d.call("release") }
func (d *fakeDelivery) Extend(context.Context) error  { return d.call("extend") }
func (d *fakeDelivery) Redeliver(_ context.Context, delay time.Duration) error {
	return d.call("redeliver(" + delay.String() + ")")
}

// asyncDelivery is a fakeDelivery with AckAsync.
type asyncDelivery struct{ *fakeDelivery }

func (d asyncDelivery) AckAsync(_ context.Context, done AckDone) {
	if err := d.call("ackasync"); err != nil {
		done.AckDone(err)
		return
	}
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.dones == nil {
		d.s.dones = map[string]AckDone{}
	}
	d.s.dones[d.m.ID] = done
}

// confirm reports the outcome of message id's AckAsync, once it was sent.
func (s *fakeSource) confirm(t *testing.T, id string, err error) {
	t.Helper()
	var done AckDone
	eventually(t, "AckAsync of "+id, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		done = s.dones[id]
		delete(s.dones, id)
		return done != nil
	})
	done.AckDone(err)
}

// events records a Consumer's events.
type events struct {
	mu  sync.Mutex
	all []bulwark.Event
}

func (e *events) Observe(_ context.Context, ev bulwark.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		out = append(out, ev.Kind())
	}
	return out
}

func (e *events) list() []bulwark.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.all)
}

// eventually polls cond for up to 5 s: for states reached by the
// Consumer's goroutines after something the test did.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		time.Sleep(time.Millisecond)
	}
}

// run runs c in the background; the returned function closes it and
// returns Run's error.
func run(t *testing.T, c *Consumer) (stop func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, c.Close(ctx))
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitTimer waits until the Consumer's timer goroutine waits for at.
func waitTimer(t *testing.T, c *Consumer, at time.Time) {
	t.Helper()
	eventually(t, "the timer at "+at.String(), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.timerAt.Equal(at) && len(c.resched) == 0 // armed, no wake-up pending
	})
}
