// Package consumetest is the conformance suite of consume.Source: every
// Source (natsconsume, kafkaconsume, rabbitconsume, consume.MemorySource)
// runs it from its own tests, with a Harness that reaches a fresh queue or
// topic on its broker:
//
//	func TestConformance(t *testing.T) {
//		consumetest.Run(t, func(t *testing.T) consumetest.Harness {
//			stream := newStream(t) // removed by t.Cleanup
//			return consumetest.Harness{
//				NewSource: func(t *testing.T) consume.Source { return newSource(t, stream) },
//				Publish:   func(t *testing.T, ctx context.Context, msgs ...consume.Message) { publish(t, ctx, stream, msgs) },
//			}
//		})
//	}
//
// Each subtest checks one promise of the package doc through a real
// consume.Consumer on the Source, on real time with short delays
// (redelivery delays of 50 to 300ms), so that broker Sources run it as they
// run in production; each takes well under a few seconds on a local broker.
// Every subtest ends by checking that nothing it settled comes
// back: a Consumer on a new Source receives a fresh marker message and
// nothing else. The subtests, by name:
//
//   - Delivery: N messages, keyed and not, are each handled once with their
//     ID, Key, Payload, Headers and Attempt 1, then acknowledged (a later
//     Source on the same queue receives nothing of them).
//   - KeyOrder: several keys interleaved, Concurrency 8: each key's messages
//     are handled one at a time in publish order.
//   - RedeliveryKeyed: a keyed message failing its first delivery is run
//     again in place, then delivered again in process with the same ID and
//     Attempt 2; the next message of its key waits for it.
//   - RedeliveryUnkeyed: an unkeyed message failing its first delivery comes
//     back through Delivery.Redeliver with the same ID, Payload and Headers
//     and Attempt 2, while a later message is not held up.
//   - DeadLetterAfterMaxAttempts: a message failing every delivery up to
//     MaxAttempts is dead-lettered with its attempt history and
//     acknowledged; the next message of its key runs after it.
//   - DeadLetterPermanent: a Permanent error dead-letters at once.
//   - ShutdownNeverDeadLetters: a handler cut short by Run's context or by a
//     Close that runs out of time is released, not dead-lettered (with
//     MaxAttempts 1), and handled by a later Source.
//   - DrainOnClose: Close lets a running handler finish and acknowledges
//     its message, and releases the messages held for a redelivery or
//     waiting behind them, which the next Source delivers, in key order,
//     long before their redelivery delay.
//   - NoLossAcrossRestart: a consumer closed midway and a new one on a new
//     Source handle every message at least once, each key's messages for
//     the first time in publish order, and leave none unacknowledged.
//   - LeaseExtended (when Harness.Lease is set): a handler running three
//     times the Lease, and a message of its key waiting behind it, are not
//     delivered again meanwhile, the Consumer calling Extend every quarter
//     Lease.
//
// Every Source is also checked, on each Receive, to return between 1 and
// max deliveries when it returns no error, each with a Message with an ID
// and an Attempt of at least 1. Deliveries that are consume.AsyncAckers are
// acknowledged through AckAsync, as the Consumer does, so every subtest
// checks that path too.
package consumetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Harness reaches one queue or topic on the broker under test.
type Harness struct {
	// NewSource returns a new Source on the harness's queue or topic: the
	// first one receives from the start, and each later one continues
	// where the closed ones left off, like a restarted process (the same
	// durable consumer, consumer group or queue). The Consumer closes it.
	NewSource func(t *testing.T) consume.Source
	// Publish publishes msgs to the queue or topic, in order, with their
	// ID, Key, Payload and Headers; it returns once the broker has them.
	Publish func(t *testing.T, ctx context.Context, msgs ...consume.Message)
	// Lease, optional, is how long the broker waits for a delivery to be
	// settled or extended before it delivers the message again (a
	// JetStream consumer's AckWait, as the Sources of NewSource are set
	// up); keep it short, under a second. 0 means the broker has no such
	// lease, and the LeaseExtended subtest is skipped.
	Lease time.Duration
}

// waitFor bounds every wait for a broker to deliver something. It is long,
// for a Kafka group to form; a working Source is much quicker.
const waitFor = 20 * time.Second

// Run runs every subtest, each on a fresh Harness from newHarness.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("Delivery", func(t *testing.T) { testDelivery(t, newHarness(t)) })
	t.Run("KeyOrder", func(t *testing.T) { testKeyOrder(t, newHarness(t)) })
	t.Run("RedeliveryKeyed", func(t *testing.T) { testRedeliveryKeyed(t, newHarness(t)) })
	t.Run("RedeliveryUnkeyed", func(t *testing.T) { testRedeliveryUnkeyed(t, newHarness(t)) })
	t.Run("DeadLetterAfterMaxAttempts", func(t *testing.T) { testDeadLetterMaxAttempts(t, newHarness(t)) })
	t.Run("DeadLetterPermanent", func(t *testing.T) { testDeadLetterPermanent(t, newHarness(t)) })
	t.Run("ShutdownNeverDeadLetters", func(t *testing.T) { testShutdown(t, newHarness(t)) })
	t.Run("DrainOnClose", func(t *testing.T) { testDrain(t, newHarness(t)) })
	t.Run("NoLossAcrossRestart", func(t *testing.T) { testRestart(t, newHarness(t)) })
	t.Run("LeaseExtended", func(t *testing.T) { testLease(t, newHarness(t)) })
}

// prefix returns a random prefix for the IDs of one subtest.
func prefix(*testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "c" + hex.EncodeToString(b) + "-"
}

// baseConfig is the Config every subtest starts from: short real delays,
// and leases extended every quarter of the harness's Lease.
func baseConfig(h Harness) consume.Config {
	extend := time.Second
	if h.Lease > 0 {
		extend = max(h.Lease/4, time.Millisecond)
	}
	return consume.Config{
		Concurrency:        8,
		InPlaceAttempts:    consume.NoInPlaceRetries,
		InPlaceBackoff:     retry.Constant{Delay: time.Millisecond},
		Redelivery:         retry.Constant{Delay: 50 * time.Millisecond},
		RedeliveryMaxDelay: time.Second,
		MaxAttempts:        consume.Unlimited,
		ExtendEvery:        extend,
	}
}

// seen is one handler call, as recorded.
type seen struct {
	ID, Key string
	Attempt int
	Payload string
	Headers map[string]string
	At      time.Time
}

// recorder records handler calls.
type recorder struct {
	mu    sync.Mutex
	calls []seen
}

func (r *recorder) add(m *consume.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, seen{ID: m.ID, Key: m.Key, Attempt: m.Attempt, Payload: string(m.Payload), Headers: m.Headers, At: time.Now()})
}

func (r *recorder) all() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// of returns the calls on the message id.
func (r *recorder) of(id string) []seen {
	var out []seen
	for _, c := range r.all() {
		if c.ID == id {
			out = append(out, c)
		}
	}
	return out
}

// ids returns the distinct IDs handled.
func (r *recorder) ids() map[string]int {
	out := map[string]int{}
	for _, c := range r.all() {
		out[c.ID]++
	}
	return out
}

// waitUntil polls cond until it holds, failing the test after waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting: "+what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running is a Consumer running in the background.
type running struct {
	c      *consume.Consumer
	cancel context.CancelFunc
	done   chan error
}

// checkedSource checks what a Source's Receive returns.
type checkedSource struct {
	consume.Source
	t *testing.T
}

func (s checkedSource) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	ds, err := s.Source.Receive(ctx, max)
	if err != nil {
		return ds, err
	}
	if len(ds) < 1 || len(ds) > max {
		s.t.Errorf("consumetest: Receive(ctx, %d) returned %d deliveries and no error, want 1 to %d", max, len(ds), max)
	}
	for _, d := range ds {
		m := d.Message()
		switch {
		case m == nil:
			s.t.Errorf("consumetest: a Delivery's Message() is nil")
		case m.ID == "":
			s.t.Errorf("consumetest: a delivered Message has no ID (key %q)", m.Key)
		case m.Attempt < 1:
			s.t.Errorf("consumetest: message %q delivered with Attempt %d, want >= 1", m.ID, m.Attempt)
		}
	}
	return ds, nil
}

// start runs a Consumer on a new Source of h until the test ends or stop.
func start(t *testing.T, h Harness, handler consume.HandlerFunc, cfg consume.Config) *running {
	t.Helper()
	src := h.NewSource(t)
	require.NotNil(t, src, "Harness.NewSource returned nil")
	c, err := consume.New(checkedSource{src, t}, handler, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop closes the Consumer and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	assert.NoError(t, r.c.Close(ctx), "Close")
	r.wait(t)
	r.cancel()
}

// wait waits for Run to return.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for a later wait
		return err
	case <-time.After(waitFor):
		require.FailNow(t, "Run did not return")
		return nil
	}
}

// publish publishes msgs with a bounded context.
func publish(t *testing.T, h Harness, msgs ...consume.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	h.Publish(t, ctx, msgs...)
}

// assertSettled checks that the queue holds nothing unacknowledged from
// before: a new Consumer on a new Source receives a fresh marker message
// and nothing else.
func assertSettled(t *testing.T, h Harness) {
	t.Helper()
	var rec recorder
	r := start(t, h, func(ctx context.Context, m *consume.Message) error { rec.add(m); return nil }, baseConfig(h))
	marker := prefix(t) + "marker"
	publish(t, h, consume.Message{ID: marker, Payload: []byte("marker")})
	waitUntil(t, "the marker message", func() bool { return len(rec.of(marker)) > 0 })
	time.Sleep(100 * time.Millisecond) // a straggler arriving just after
	r.stop(t)
	var back []string
	for _, c := range rec.all() {
		if c.ID != marker {
			back = append(back, fmt.Sprintf("%s (key %q, attempt %d)", c.ID, c.Key, c.Attempt))
		}
	}
	if len(back) > 0 {
		assert.Failf(t, "a settled message came back", "%d message(s) delivered again after they were acknowledged, or left unacknowledged: %v", len(back), back)
	}
}

func testDelivery(t *testing.T, h Harness) {
	p := prefix(t)
	const n = 60
	var msgs []consume.Message
	for i := range n {
		m := consume.Message{ID: fmt.Sprintf("%s%d", p, i), Payload: fmt.Appendf(nil, "payload %d", i)}
		if i%3 != 0 {
			m.Key = fmt.Sprintf("key-%d", i%5)
		}
		if i%2 == 0 {
			m.Headers = map[string]string{"n": fmt.Sprint(i), "kind": "test"}
		}
		msgs = append(msgs, m)
	}
	publish(t, h, msgs...)
	var rec recorder
	r := start(t, h, func(ctx context.Context, m *consume.Message) error { rec.add(m); return nil }, baseConfig(h))
	waitUntil(t, "every message handled", func() bool { return len(rec.ids()) >= n })
	r.stop(t)
	for _, m := range msgs {
		got := rec.of(m.ID)
		if !assert.Len(t, got, 1, "message %q handled once", m.ID) {
			continue
		}
		g := got[0]
		assert.Equal(t, m.Key, g.Key, "Key of %q", m.ID)
		assert.Equal(t, string(m.Payload), g.Payload, "Payload of %q", m.ID)
		assert.Equal(t, len(m.Headers), len(g.Headers), "Headers of %q: %v", m.ID, g.Headers)
		for k, v := range m.Headers {
			assert.Equal(t, v, g.Headers[k], "header %q of %q", k, m.ID)
		}
		assert.Equal(t, 1, g.Attempt, "Attempt of %q", m.ID)
	}
	assertSettled(t, h)
}

func testKeyOrder(t *testing.T, h Harness) {
	p := prefix(t)
	const keys, per = 4, 15
	var msgs []consume.Message
	for i := range per {
		for k := range keys {
			msgs = append(msgs, consume.Message{ID: fmt.Sprintf("%s%d-%d", p, k, i), Key: fmt.Sprintf("k%d", k), Payload: fmt.Append(nil, i)})
		}
	}
	publish(t, h, msgs...)
	var rec recorder
	var mu sync.Mutex
	running := map[string]bool{}
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		mu.Lock()
		if running[m.Key] {
			t.Errorf("two messages of key %q ran at once", m.Key)
		}
		running[m.Key] = true
		mu.Unlock()
		rec.add(m)
		time.Sleep(time.Millisecond)
		mu.Lock()
		running[m.Key] = false
		mu.Unlock()
		return nil
	}, baseConfig(h))
	waitUntil(t, "every message handled", func() bool { return len(rec.ids()) >= len(msgs) })
	r.stop(t)
	got := map[string][]string{}
	for _, c := range rec.all() {
		got[c.Key] = append(got[c.Key], c.Payload)
	}
	for k := range keys {
		var want []string
		for i := range per {
			want = append(want, fmt.Sprint(i))
		}
		assert.Equal(t, want, got[fmt.Sprintf("k%d", k)], "order of key k%d", k)
	}
	assertSettled(t, h)
}

func testRedeliveryKeyed(t *testing.T, h Harness) {
	p := prefix(t)
	first, next, other := p+"first", p+"next", p+"other"
	publish(t, h,
		consume.Message{ID: first, Key: "k", Payload: []byte("first")},
		consume.Message{ID: next, Key: "k", Payload: []byte("next")},
		consume.Message{ID: other, Key: "o", Payload: []byte("other")},
	)
	var rec recorder
	failures := 0
	cfg := baseConfig(h)
	cfg.InPlaceAttempts = 1
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		if m.ID == first && m.Attempt == 1 {
			failures++
			return fmt.Errorf("failure %d", failures)
		}
		return nil
	}, cfg)
	waitUntil(t, "the next message of the key", func() bool { return len(rec.of(next)) > 0 })
	r.stop(t)
	var attempts []int
	for _, c := range rec.of(first) {
		attempts = append(attempts, c.Attempt)
		assert.Equal(t, "first", c.Payload)
	}
	assert.Equal(t, []int{1, 1, 2}, attempts, "the failed message's runs: two in place at attempt 1, then attempt 2")
	var order []string
	for _, c := range rec.all() {
		if c.Key == "k" {
			order = append(order, c.ID)
		}
	}
	assert.Equal(t, []string{first, first, first, next}, order, "the next message of the key waits for the retried one")
	assert.Len(t, rec.of(other), 1, "the other key's message")
	assertSettled(t, h)
}

func testRedeliveryUnkeyed(t *testing.T, h Harness) {
	p := prefix(t)
	failing, later := p+"failing", p+"later"
	headers := map[string]string{"h": "v"}
	publish(t, h,
		consume.Message{ID: failing, Payload: []byte("failing"), Headers: headers},
		consume.Message{ID: later, Payload: []byte("later")},
	)
	var rec recorder
	cfg := baseConfig(h)
	cfg.Redelivery = retry.Constant{Delay: 300 * time.Millisecond} // room for a slow machine to run the later one first
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		if m.ID == failing && m.Attempt == 1 {
			return errors.New("first delivery fails")
		}
		return nil
	}, cfg)
	waitUntil(t, "the failed message delivered again", func() bool { return len(rec.of(failing)) >= 2 })
	waitUntil(t, "the later message", func() bool { return len(rec.of(later)) > 0 })
	r.stop(t)
	got := rec.of(failing)
	require.Len(t, got, 2)
	for i, c := range got {
		assert.Equal(t, i+1, c.Attempt, "Attempt of delivery %d", i+1)
		assert.Equal(t, "failing", c.Payload)
		assert.Equal(t, headers, c.Headers)
	}
	assert.True(t, rec.of(later)[0].At.Before(got[1].At), "the later message does not wait for the failed one's redelivery")
	assertSettled(t, h)
}

func testDeadLetterMaxAttempts(t *testing.T, h Harness) {
	p := prefix(t)
	poison, after, unkeyed := p+"poison", p+"after", p+"unkeyed"
	publish(t, h,
		consume.Message{ID: poison, Key: "k", Payload: []byte("poison")},
		consume.Message{ID: after, Key: "k", Payload: []byte("after")},
		consume.Message{ID: unkeyed, Payload: []byte("unkeyed")},
	)
	var rec recorder
	var sink retry.MemorySink[consume.Message]
	cfg := baseConfig(h)
	cfg.InPlaceAttempts = 1
	cfg.MaxAttempts = 2
	cfg.DeadLetters = &sink
	errPoison := errors.New("poison")
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		if m.ID == poison || m.ID == unkeyed {
			return fmt.Errorf("attempt %d: %w", m.Attempt, errPoison)
		}
		return nil
	}, cfg)
	waitUntil(t, "two dead letters", func() bool { return sink.Len() >= 2 })
	waitUntil(t, "the message after the poison one", func() bool { return len(rec.of(after)) > 0 })
	r.stop(t)
	letters := map[string]retry.DeadLetter[consume.Message]{}
	for _, l := range sink.Letters() {
		letters[l.Item.ID] = l
	}
	require.Len(t, letters, 2)
	for id, runs := range map[string]int{poison: 4, unkeyed: 2} {
		l := letters[id]
		assert.Equal(t, 2, l.Item.Attempt, "dead letter %q: Attempt", id)
		assert.ErrorIs(t, l.Err, retry.ErrMaxAttempts, "dead letter %q", id)
		assert.ErrorIs(t, l.Err, errPoison, "dead letter %q", id)
		// The keyed message's history spans both deliveries, held in
		// process; the unkeyed one's, its last delivery.
		if assert.Len(t, l.Attempts, runs, "dead letter %q: attempt history", id) {
			for i, a := range l.Attempts {
				assert.Equal(t, i+1, a.Number)
				assert.ErrorIs(t, a.Err, errPoison)
			}
		}
	}
	assert.Len(t, rec.of(poison), 4, "the keyed poison message: 2 deliveries of 2 runs")
	assert.Len(t, rec.of(unkeyed), 4, "the unkeyed poison message: 2 deliveries of 2 runs")
	assert.Len(t, rec.of(after), 1)
	assertSettled(t, h)
}

func testDeadLetterPermanent(t *testing.T, h Harness) {
	p := prefix(t)
	keyed, unkeyed := p+"keyed", p+"unkeyed"
	publish(t, h,
		consume.Message{ID: keyed, Key: "k", Payload: []byte("k")},
		consume.Message{ID: unkeyed, Payload: []byte("u")},
	)
	var rec recorder
	var sink retry.MemorySink[consume.Message]
	cfg := baseConfig(h)
	cfg.InPlaceAttempts = 3
	cfg.MaxAttempts = 5
	cfg.DeadLetters = &sink
	errBad := errors.New("malformed")
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		return consume.Permanent(errBad)
	}, cfg)
	waitUntil(t, "two dead letters", func() bool { return sink.Len() >= 2 })
	r.stop(t)
	for _, l := range sink.Letters() {
		assert.Equal(t, 1, l.Item.Attempt, "dead letter %q", l.Item.ID)
		assert.ErrorIs(t, l.Err, retry.ErrNotRetryable)
		assert.ErrorIs(t, l.Err, errBad)
		assert.Len(t, l.Attempts, 1, "dead letter %q: one run", l.Item.ID)
	}
	assert.Len(t, rec.of(keyed), 1)
	assert.Len(t, rec.of(unkeyed), 1)
	assertSettled(t, h)
}

func testShutdown(t *testing.T, h Harness) {
	p := prefix(t)
	id := p + "slow"
	publish(t, h, consume.Message{ID: id, Key: "k", Payload: []byte("slow")})
	var sink retry.MemorySink[consume.Message]
	cfg := baseConfig(h)
	cfg.MaxAttempts = 1
	cfg.DeadLetters = &sink
	started := make(chan struct{}, 10)
	blocking := func(ctx context.Context, m *consume.Message) error {
		started <- struct{}{}
		<-ctx.Done()
		return fmt.Errorf("handler cut short: %w", ctx.Err())
	}
	waitStarted := func() {
		t.Helper()
		select {
		case <-started:
		case <-time.After(waitFor):
			require.FailNow(t, "the handler did not start")
		}
	}

	// Run's context ends.
	r := start(t, h, blocking, cfg)
	waitStarted()
	r.cancel()
	assert.ErrorIs(t, r.wait(t), context.Canceled, "Run returns its context's error")
	r.stop(t) // closes the Source
	assert.Zero(t, sink.Len(), "a handler cut short by Run's context is not dead-lettered")

	// Close runs out of time.
	r = start(t, h, blocking, cfg)
	waitStarted()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, r.c.Close(ctx), context.DeadlineExceeded, "Close returns its context's error when the handler outlasts it")
	assert.NoError(t, r.wait(t), "Run returns nil after Close")
	assert.Zero(t, sink.Len(), "a handler cut short by Close is not dead-lettered")

	// The message is still there.
	var rec recorder
	r = start(t, h, func(ctx context.Context, m *consume.Message) error { rec.add(m); return nil }, cfg)
	waitUntil(t, "the released message", func() bool { return len(rec.of(id)) > 0 })
	r.stop(t)
	assert.Zero(t, sink.Len())
	assertSettled(t, h)
}

func testDrain(t *testing.T, h Harness) {
	p := prefix(t)
	slow, held, behind := p+"slow", p+"held", p+"behind"
	publish(t, h,
		consume.Message{ID: slow, Key: "a", Payload: []byte("slow")},
		consume.Message{ID: held, Key: "b", Payload: []byte("held")},
		consume.Message{ID: behind, Key: "b", Payload: []byte("behind")},
	)
	var sink retry.MemorySink[consume.Message]
	cfg := baseConfig(h)
	cfg.DeadLetters = &sink
	cfg.Redelivery = retry.Constant{Delay: time.Minute} // held far longer than the test
	var rec recorder
	slowStarted, heldFailed := make(chan struct{}), make(chan struct{})
	var slowDone bool
	var mu sync.Mutex
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		switch m.ID {
		case slow:
			close(slowStarted)
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			slowDone = true
			mu.Unlock()
		case held:
			close(heldFailed)
			return errors.New("held for a minute")
		}
		return nil
	}, cfg)
	for _, ch := range []chan struct{}{slowStarted, heldFailed} {
		select {
		case <-ch:
		case <-time.After(waitFor):
			require.FailNow(t, "the handlers did not start")
		}
	}
	time.Sleep(20 * time.Millisecond) // the failed message is held
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, r.c.Close(ctx))
	mu.Lock()
	assert.True(t, slowDone, "Close returned before the running handler finished")
	mu.Unlock()
	assert.NoError(t, r.wait(t))
	assert.Empty(t, rec.of(behind), "the message behind the held one did not run")

	var rec2 recorder
	r = start(t, h, func(ctx context.Context, m *consume.Message) error { rec2.add(m); return nil }, cfg)
	waitUntil(t, "the released messages", func() bool { return len(rec2.of(behind)) > 0 })
	r.stop(t)
	var order []string
	for _, c := range rec2.all() {
		order = append(order, c.ID)
	}
	assert.Equal(t, []string{held, behind}, order, "the released messages, in key order, and not the finished one")
	assert.Zero(t, sink.Len())
	assertSettled(t, h)
}

func testRestart(t *testing.T, h Harness) {
	p := prefix(t)
	const n, keys = 200, 10
	var msgs []consume.Message
	for i := range n {
		m := consume.Message{ID: fmt.Sprintf("%s%d", p, i), Payload: fmt.Append(nil, i)}
		if i%7 != 0 {
			m.Key = fmt.Sprintf("k%d", i%keys)
		}
		msgs = append(msgs, m)
	}
	publish(t, h, msgs...)
	var rec recorder
	handler := func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		time.Sleep(time.Millisecond)
		return nil
	}
	cfg := baseConfig(h)
	cfg.Concurrency = 4
	cfg.MaxPending = 16
	r := start(t, h, handler, cfg)
	waitUntil(t, "a third of the messages", func() bool { return len(rec.ids()) >= n/3 })
	r.stop(t)
	firstRun := len(rec.ids())
	r = start(t, h, handler, cfg)
	waitUntil(t, "every message", func() bool { return len(rec.ids()) >= n })
	r.stop(t)
	t.Logf("%d messages handled before the restart, %d handler calls in all", firstRun, len(rec.all()))
	ids := rec.ids()
	for _, m := range msgs {
		assert.Contains(t, ids, m.ID)
	}
	firsts := map[string][]string{}
	done := map[string]bool{}
	for _, c := range rec.all() {
		if c.Key == "" || done[c.ID] {
			continue
		}
		done[c.ID] = true
		firsts[c.Key] = append(firsts[c.Key], c.ID)
	}
	for k := range keys {
		key := fmt.Sprintf("k%d", k)
		var want []string
		for _, m := range msgs {
			if m.Key == key {
				want = append(want, m.ID)
			}
		}
		assert.Equal(t, want, firsts[key], "the first handling of key %s's messages, in publish order", key)
	}
	assertSettled(t, h)
}

func testLease(t *testing.T, h Harness) {
	if h.Lease <= 0 {
		t.Skip("the Source's broker has no lease (Harness.Lease is 0)")
	}
	p := prefix(t)
	long, behind := p+"long", p+"behind"
	publish(t, h,
		consume.Message{ID: long, Key: "k", Payload: []byte("long")},
		consume.Message{ID: behind, Key: "k", Payload: []byte("behind")},
	)
	var rec recorder
	cfg := baseConfig(h)
	r := start(t, h, func(ctx context.Context, m *consume.Message) error {
		rec.add(m)
		if m.ID == long {
			time.Sleep(3 * h.Lease)
		}
		return nil
	}, cfg)
	waitUntil(t, "both messages, or a redelivery", func() bool { return len(rec.of(behind)) > 0 || len(rec.of(long)) > 1 })
	time.Sleep(h.Lease) // a redelivery of either would come now
	r.stop(t)
	assert.Len(t, rec.of(long), 1, "the long-running message was delivered again: its lease was not extended")
	assert.Len(t, rec.of(behind), 1, "the waiting message was delivered again: its lease was not extended")
	assertSettled(t, h)
}
