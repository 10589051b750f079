package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// testConfig is the default configuration with exact (unjittered) retry
// waits and fc as the clock.
func testConfig(fc *clocktest.Fake) outbox.Config {
	return outbox.Config{Backoff: retry.Exponential{Initial: time.Second, Jitter: retry.NoJitter}, Clock: fc}
}

func payloadsOf(msgs []outbox.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Payload))
	}
	return out
}

func enqueueN(t *testing.T, s *outbox.MemoryStore, key string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, s.Enqueue(context.Background(), outbox.Message{Topic: "t", Key: key, Payload: fmt.Appendf(nil, "%s%d", key, i), CreatedAt: t0}))
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*outbox.Config)
		want   string
	}{
		{"batch negative", func(c *outbox.Config) { c.BatchSize = -1 }, "Config.BatchSize must be 0 (meaning 100) or in [1, 10000], got -1"},
		{"batch huge", func(c *outbox.Config) { c.BatchSize = 10001 }, "Config.BatchSize must be 0 (meaning 100) or in [1, 10000], got 10001"},
		{"concurrency", func(c *outbox.Config) { c.Concurrency = 1025 }, "Config.Concurrency must be 0 (meaning 8) or in [1, 1024], got 1025"},
		{"poll", func(c *outbox.Config) { c.PollInterval = -time.Second }, "Config.PollInterval must be 0 (meaning 1s) or in (0, 24h], got -1s"},
		{"poll huge", func(c *outbox.Config) { c.PollInterval = 25 * time.Hour }, "Config.PollInterval must be 0 (meaning 1s) or in (0, 24h], got 25h0m0s"},
		{"publish timeout", func(c *outbox.Config) { c.PublishTimeout = -2 }, "Config.PublishTimeout must be 0 (meaning 10s), outbox.NoTimeout or in (0, Lease = 1m0s), got -2ns"},
		{"publish timeout over lease", func(c *outbox.Config) { c.PublishTimeout = time.Minute }, "Config.PublishTimeout must be 0 (meaning 10s), outbox.NoTimeout or in (0, Lease = 1m0s), got 1m0s"},
		{"lease", func(c *outbox.Config) { c.Lease = -1 }, "Config.Lease must be 0 (meaning 1m0s) or in (0, 24h], got -1ns"},
		{"attempts", func(c *outbox.Config) { c.MaxAttempts = -2 }, "Config.MaxAttempts must be 0 (meaning 10), outbox.Unlimited or in [1, 1e6], got -2"},
		{"attempts huge", func(c *outbox.Config) { c.MaxAttempts = 1e6 + 1 }, "Config.MaxAttempts must be 0 (meaning 10), outbox.Unlimited or in [1, 1e6], got 1000001"},
		{"backoff", func(c *outbox.Config) { c.Backoff = retry.Exponential{Initial: -1} }, "Config.Backoff: Exponential.Initial must be >= 0 (0 means 100ms), got -1ns"},
		{"max delay", func(c *outbox.Config) { c.MaxDelay = -time.Second }, "Config.MaxDelay must be 0 (meaning 1m0s) or in (0, 24h], got -1s"},
		{"retention", func(c *outbox.Config) { c.Retention = -time.Second }, "Config.Retention must be 0 (delete at once) or in (0, 87600h], got -1s"},
		{"cleanup", func(c *outbox.Config) { c.CleanupInterval = -time.Second }, "Config.CleanupInterval must be 0 (meaning 1m0s) or in (0, 24h], got -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg outbox.Config
			tc.change(&cfg)
			_, err := outbox.NewRelay(outbox.NewMemoryStore(), outbox.NewMemoryPublisher(), cfg)
			require.Error(t, err)
			assert.Equal(t, "outbox: "+tc.want, err.Error())
		})
	}
	_, err := outbox.NewRelay(nil, outbox.NewMemoryPublisher(), outbox.Config{})
	assert.EqualError(t, err, "outbox: NewRelay: store must not be nil")
	_, err = outbox.NewRelay(outbox.NewMemoryStore(), nil, outbox.Config{})
	assert.EqualError(t, err, "outbox: NewRelay: pub must not be nil")
	for _, cfg := range []outbox.Config{
		{},
		outbox.DefaultConfig(),
		{PublishTimeout: outbox.NoTimeout, MaxAttempts: outbox.Unlimited},
		{Lease: 5 * time.Second}, // the default publish timeout becomes a tenth of it
	} {
		_, err = outbox.NewRelay(outbox.NewMemoryStore(), outbox.NewMemoryPublisher(), cfg)
		assert.NoError(t, err, "%+v", cfg)
	}
}

// TestProcessBatchKeyOrderAndParallelKeys: one key's messages go out one at
// a time in order, while different keys are published at the same time.
func TestProcessBatchKeyOrderAndParallelKeys(t *testing.T) {
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 5)
	enqueueN(t, s, "b", 0, 5)
	var (
		mu       sync.Mutex
		inFlight = map[string]int{}
		order    = map[string][]string{}
		maxBoth  int
	)
	bothStarted := make(chan struct{})
	var started atomic.Int32
	pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		mu.Lock()
		inFlight[m.Key]++
		if inFlight[m.Key] > 1 {
			t.Errorf("two messages of key %s in flight at once", m.Key)
		}
		maxBoth = max(maxBoth, len(inFlight))
		order[m.Key] = append(order[m.Key], string(m.Payload))
		mu.Unlock()
		// The first message of each key waits for the other key's first:
		// this only finishes if the keys run in parallel.
		if started.Add(1) == 2 {
			close(bothStarted)
		}
		<-bothStarted
		mu.Lock()
		if inFlight[m.Key]--; inFlight[m.Key] == 0 {
			delete(inFlight, m.Key)
		}
		mu.Unlock()
		return nil
	})
	cfg := testConfig(clocktest.New(t0))
	cfg.Concurrency = 4
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)
	res, err := r.ProcessBatch(context.Background())
	require.NoError(t, err)
	assert.Equal(t, outbox.BatchResult{Claimed: 10, Published: 10}, res)
	assert.Equal(t, []string{"a0", "a1", "a2", "a3", "a4"}, order["a"])
	assert.Equal(t, []string{"b0", "b1", "b2", "b3", "b4"}, order["b"])
	assert.Equal(t, 2, maxBoth, "both keys were in flight at once")
}

// flaky fails the first n publishes of each listed payload.
type flaky struct {
	outbox.MemoryPublisher
	mu    sync.Mutex
	fails map[string]int
}

func newFlaky(fails map[string]int) *flaky {
	return &flaky{MemoryPublisher: *outbox.NewMemoryPublisher(), fails: fails}
}

func (f *flaky) Publish(ctx context.Context, m outbox.Message) error {
	f.mu.Lock()
	n := f.fails[string(m.Payload)]
	if n > 0 {
		f.fails[string(m.Payload)] = n - 1
	}
	f.mu.Unlock()
	if n > 0 {
		return fmt.Errorf("broker rejected %s", m.Payload)
	}
	return f.MemoryPublisher.Publish(ctx, m)
}

// hookLog records the relay's events as text; it is a bulwark.Observer.
type hookLog struct {
	mu     sync.Mutex
	events []string
}

func (h *hookLog) add(format string, args ...any) {
	h.mu.Lock()
	h.events = append(h.events, fmt.Sprintf(format, args...))
	h.mu.Unlock()
}

func (h *hookLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

func (h *hookLog) Observe(_ context.Context, e bulwark.Event) {
	switch e := e.(type) {
	case outbox.Published:
		h.add("published %s", e.Message.Payload)
	case outbox.PublishFailed:
		h.add("retry %s attempt %d at +%s: %v", e.Message.Payload, e.Attempts, e.RetryAt.Sub(t0), e.Err)
	case outbox.DeadLettered:
		if e.Invalid {
			h.add("invalid %s after %d: %v", e.Message.Payload, e.Attempts, e.Err)
		} else {
			h.add("dead %s after %d: %v", e.Message.Payload, e.Attempts, e.Err)
		}
	default:
		h.add("unexpected event %T", e)
	}
}

func hooked(cfg outbox.Config, log *hookLog) outbox.Config {
	cfg.Observer = log
	return cfg
}

func TestRetryBackoffThenPublish(t *testing.T) {
	ctx := context.Background()
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 2)
	enqueueN(t, s, "b", 0, 1)
	pub := newFlaky(map[string]int{"a0": 3})
	log := &hookLog{}
	r, err := outbox.NewRelay(s, pub, hooked(testConfig(fc), log))
	require.NoError(t, err)

	step := func(wantRes outbox.BatchResult, want ...string) {
		t.Helper()
		res, err := r.ProcessBatch(ctx)
		require.NoError(t, err)
		assert.Equal(t, wantRes, res)
		assert.Equal(t, want, log.take())
	}
	step(outbox.BatchResult{Claimed: 3, Published: 1, Retried: 1},
		"retry a0 attempt 1 at +1s: broker rejected a0", "published b0")
	step(outbox.BatchResult{}) // a0 waits for its retry, a1 waits for a0
	fc.Advance(999 * time.Millisecond)
	step(outbox.BatchResult{})
	fc.Advance(time.Millisecond)
	step(outbox.BatchResult{Claimed: 2, Retried: 1}, "retry a0 attempt 2 at +3s: broker rejected a0")
	fc.Advance(2 * time.Second)
	step(outbox.BatchResult{Claimed: 2, Retried: 1}, "retry a0 attempt 3 at +7s: broker rejected a0")
	fc.Advance(4 * time.Second)
	step(outbox.BatchResult{Claimed: 2, Published: 2}, "published a0", "published a1")
	assert.Equal(t, []string{"b0", "a0", "a1"}, payloadsOf(pub.Messages()))
}

func TestRetryIntervalIsCapped(t *testing.T) {
	ctx := context.Background()
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 1)
	log := &hookLog{}
	cfg := hooked(testConfig(fc), log)
	cfg.MaxDelay = 3 * time.Second
	cfg.MaxAttempts = outbox.Unlimited
	r, err := outbox.NewRelay(s, newFlaky(map[string]int{"a0": 4}), cfg)
	require.NoError(t, err)
	var waits []time.Duration
	for range 4 {
		before := fc.Now()
		_, err := r.ProcessBatch(ctx)
		require.NoError(t, err)
		ev := log.take()
		require.Len(t, ev, 1)
		var attempt int
		var at time.Duration
		_, err = fmt.Sscanf(ev[0], "retry a0 attempt %d at +%s", &attempt, new(string))
		require.NoError(t, err)
		st, err := s.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, st.Pending)
		// Step to the moment the message becomes ready again.
		for {
			b, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 1, Now: fc.Now(), Lease: time.Minute})
			require.NoError(t, err)
			ready := len(b.Messages()) == 1
			require.NoError(t, b.Release(ctx))
			if ready {
				break
			}
			fc.Advance(100 * time.Millisecond)
			at = fc.Now().Sub(before)
		}
		waits = append(waits, at)
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}, waits)
}

func TestDeadLetterBlocksKeyUntilReplayed(t *testing.T) {
	ctx := context.Background()
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 2)
	enqueueN(t, s, "b", 0, 1)
	log := &hookLog{}
	cfg := hooked(testConfig(fc), log)
	cfg.MaxAttempts = 2
	pub := newFlaky(map[string]int{"a0": 2})
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)

	_, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	fc.Advance(time.Second)
	res, err := r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.BatchResult{Claimed: 2, DeadLettered: 1}, res)
	assert.Equal(t, []string{"retry a0 attempt 1 at +1s: broker rejected a0", "published b0", "dead a0 after 2: broker rejected a0"}, log.take())

	fc.Advance(time.Hour)
	res, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Zero(t, res.Claimed, "a1 is blocked behind the dead letter a0")
	st, err := r.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.RelayStats{Backlog: 1, Lag: time.Hour + time.Second, DeadLetters: 1}, st)

	dls, err := s.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, "broker rejected a0", dls[0].LastError)
	n, err := s.Replay(ctx, dls[0].ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	res, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.BatchResult{Claimed: 2, Published: 2}, res)
	assert.Equal(t, []string{"b0", "a0", "a1"}, payloadsOf(pub.Messages()))
}

func TestDeadLetterSkippedWhenConfigured(t *testing.T) {
	ctx := context.Background()
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 2)
	cfg := testConfig(fc)
	cfg.MaxAttempts = 1
	cfg.SkipDeadLetters = true
	pub := newFlaky(map[string]int{"a0": 1})
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)
	res, err := r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.BatchResult{Claimed: 2, DeadLettered: 1}, res)
	res, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.BatchResult{Claimed: 1, Published: 1}, res)
	assert.Equal(t, []string{"a1"}, payloadsOf(pub.Messages()))
}

// failingFinish is a store whose batches cannot record their outcome.
type failingFinish struct{ *outbox.MemoryStore }

func (f failingFinish) Claim(ctx context.Context, r outbox.ClaimRequest) (outbox.Batch, error) {
	b, err := f.MemoryStore.Claim(ctx, r)
	return finishFails{b}, err
}

type finishFails struct{ outbox.Batch }

func (f finishFails) Finish(ctx context.Context, _ outbox.Outcome) error {
	_ = f.Batch.Release(ctx)
	return fmt.Errorf("connection reset: %w", outbox.ErrClaimLost)
}

func TestFinishFailureReportsNoEventsAndRepublishes(t *testing.T) {
	ctx := context.Background()
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 1)
	log := &hookLog{}
	pub := outbox.NewMemoryPublisher()
	r, err := outbox.NewRelay(failingFinish{s}, pub, hooked(testConfig(clocktest.New(t0)), log))
	require.NoError(t, err)
	_, err = r.ProcessBatch(ctx)
	assert.ErrorIs(t, err, outbox.ErrClaimLost)
	assert.Empty(t, log.take(), "hooks run only for recorded outcomes")

	r, err = outbox.NewRelay(s, pub, hooked(testConfig(clocktest.New(t0)), log))
	require.NoError(t, err)
	_, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a0", "a0"}, payloadsOf(pub.Messages()), "at least once: published again")
	assert.Equal(t, []string{"published a0"}, log.take())
}

func TestRunWakesOnEnqueueWithoutPolling(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	pub := outbox.NewMemoryPublisher()
	cfg := testConfig(fc)
	cfg.PollInterval = time.Hour // the fake clock never gets there
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()

	for i := range 3 {
		fc.BlockUntil(1) // the relay is waiting
		enqueueN(t, s, "k", i, i+1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, pub.WaitFor(ctx, i+1))
		cancel()
	}
	require.NoError(t, r.Close(context.Background()))
	require.NoError(t, <-done)
	assert.Equal(t, []string{"k0", "k1", "k2"}, payloadsOf(pub.Messages()))
}

// pollOnly hides the memory store's Listener, as a store without
// notifications.
type pollOnly struct{ outbox.Store }

func TestRunPollsWithoutListener(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	pub := outbox.NewMemoryPublisher()
	cfg := testConfig(fc)
	cfg.PollInterval = 3 * time.Second
	r, err := outbox.NewRelay(pollOnly{s}, pub, cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	fc.BlockUntil(1)
	enqueueN(t, s, "k", 0, 1)
	assert.Zero(t, pub.Len(), "nothing until the poll")
	fc.Advance(cfg.PollInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, pub.WaitFor(ctx, 1))
	require.NoError(t, r.Close(ctx))
	require.NoError(t, <-done)
}

func TestRunWakesForItsRetry(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "k", 0, 1)
	pub := newFlaky(map[string]int{"k0": 1})
	cfg := testConfig(fc)
	cfg.PollInterval = time.Hour
	r, err := outbox.NewRelay(pollOnly{s}, pub, cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, pub.WaitFor(ctx, 1), "published at the retry time, not the next poll")

	// Once the retry is done the relay goes back to waiting for its poll
	// interval; a retry time kept after it passed made it spin instead.
	waiting := make(chan struct{})
	go func() { fc.BlockUntil(1); close(waiting) }()
	select {
	case <-waiting:
	case <-ctx.Done():
		t.Fatal("the relay never waited again after its retry: it spins")
	}
	require.NoError(t, r.Close(ctx))
	require.NoError(t, <-done)
}

// gate is a publisher that holds each publish until released or cancelled.
type gate struct {
	outbox.MemoryPublisher
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate {
	return &gate{MemoryPublisher: *outbox.NewMemoryPublisher(), entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gate) Publish(ctx context.Context, m outbox.Message) error {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return g.MemoryPublisher.Publish(ctx, m)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestCloseFinishesInFlightBatch(t *testing.T) {
	leakcheck.Check(t)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "k", 0, 2)
	pub := newGate()
	r, err := outbox.NewRelay(s, pub, outbox.DefaultConfig())
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	<-pub.entered
	closed := make(chan error)
	go func() { closed <- r.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a publish in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(pub.release)
	require.NoError(t, <-closed)
	require.NoError(t, <-done)
	assert.Equal(t, []string{"k0"}, payloadsOf(pub.Messages()), "the publish under way finished; none started after Close")
	st, err := s.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending, "k0's publication was recorded, k1 released")
	b, err := s.Claim(context.Background(), outbox.ClaimRequest{Limit: 10, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, b.Messages(), 1)
	assert.Zero(t, b.Messages()[0].Attempts, "k1 was not tried")

	assert.ErrorIs(t, r.Run(context.Background()), bulwark.ErrClosed)
	_, err = r.ProcessBatch(context.Background())
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	assert.NoError(t, r.Close(context.Background()), "a second Close")
}

func TestCloseDeadlineReleasesInFlightBatch(t *testing.T) {
	leakcheck.Check(t)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 1)
	enqueueN(t, s, "b", 0, 1)
	pub := newGate()
	cfg := outbox.DefaultConfig()
	cfg.Concurrency = 1
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	<-pub.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, r.Close(ctx), context.DeadlineExceeded)
	require.NoError(t, <-done)
	st, err := s.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, st.Pending, "the cancelled batch was released, not failed")
	b, err := s.Claim(context.Background(), outbox.ClaimRequest{Limit: 10, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, b.Messages(), 2)
	assert.Zero(t, b.Messages()[0].Attempts, "a cancelled publish is not a failed attempt")
}

func TestRunTwiceAndCancel(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	r, err := outbox.NewRelay(outbox.NewMemoryStore(), outbox.NewMemoryPublisher(), testConfig(fc))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	fc.BlockUntil(1)
	assert.ErrorIs(t, r.Run(ctx), bulwark.ErrRunning)
	cancel()
	err = <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.EqualError(t, err, "outbox: relay stopped: context canceled")
	require.NoError(t, r.Close(context.Background()))
}

// retentionStore records Cleanup calls.
type retentionStore struct {
	*outbox.MemoryStore
	cutoffs chan time.Time
}

func (s retentionStore) Cleanup(ctx context.Context, before time.Time) (int, error) {
	s.cutoffs <- before
	return s.MemoryStore.Cleanup(ctx, before)
}

func TestRetentionKeepsThenCleansUp(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	s := retentionStore{outbox.NewMemoryStore(), make(chan time.Time, 10)}
	enqueueN(t, s.MemoryStore, "k", 0, 3)
	cfg := testConfig(fc)
	cfg.Retention = time.Hour
	cfg.CleanupInterval = 10 * time.Minute
	cfg.PollInterval = time.Hour
	r, err := outbox.NewRelay(s, outbox.NewMemoryPublisher(), cfg)
	require.NoError(t, err)
	_, err = r.ProcessBatch(context.Background())
	require.NoError(t, err)
	n, err := s.MemoryStore.Cleanup(context.Background(), t0.Add(time.Nanosecond))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "published messages were kept, not deleted")

	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	fc.BlockUntil(2) // the poll and the cleanup timers
	fc.Advance(10 * time.Minute)
	assert.Equal(t, t0.Add(10*time.Minute-time.Hour), <-s.cutoffs)
	require.NoError(t, r.Close(context.Background()))
	require.NoError(t, <-done)
}

// TestManyRelaysKeepKeyOrder runs several relays at once on one store with
// random publish failures, and checks every message was published, each
// key's successful publishes came in enqueue order, and no key ever had two
// publishes in flight.
func TestManyRelaysKeepKeyOrder(t *testing.T) {
	leakcheck.Check(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var rngMu sync.Mutex
	const keys, perKey, relays = 12, 30, 3
	s := outbox.NewMemoryStore()
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		got      = map[string][]string{}
		total    int
		alldone  = make(chan struct{})
	)
	pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		mu.Lock()
		if inFlight[m.Key] {
			t.Errorf("seed %d: key %s published twice at once", seed, m.Key)
		}
		inFlight[m.Key] = true
		mu.Unlock()
		rngMu.Lock()
		fail := rng.IntN(5) == 0
		rngMu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		inFlight[m.Key] = false
		if fail {
			return errors.New("random failure")
		}
		got[m.Key] = append(got[m.Key], string(m.Payload))
		if total++; total == keys*perKey {
			close(alldone)
		}
		return nil
	})
	cfg := outbox.Config{
		BatchSize:    7,
		Concurrency:  3,
		MaxAttempts:  outbox.Unlimited,
		Backoff:      retry.Exponential{Initial: time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:     5 * time.Millisecond,
		PollInterval: 10 * time.Millisecond,
	}
	var wg sync.WaitGroup
	var rs []*outbox.Relay
	for range relays {
		r, err := outbox.NewRelay(s, pub, cfg)
		require.NoError(t, err)
		rs = append(rs, r)
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, r.Run(context.Background())) }()
	}
	want := map[string][]string{}
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprint("k", k)
			p := fmt.Sprintf("%s-%d", key, i)
			want[key] = append(want[key], p)
			require.NoError(t, s.Enqueue(context.Background(), outbox.Message{Topic: "t", Key: key, Payload: []byte(p)}))
		}
	}
	select {
	case <-alldone:
	case <-time.After(30 * time.Second):
		t.Fatal("not everything published within 30s")
	}
	for _, r := range rs {
		require.NoError(t, r.Close(context.Background()))
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, want, got, "seed %d", seed)
}

// flakyListener fails its first Listen and works afterwards.
type flakyListener struct {
	*outbox.MemoryStore
	calls atomic.Int32
}

func (f *flakyListener) Listen(ctx context.Context, wake func()) error {
	if f.calls.Add(1) == 1 {
		return errors.New("notification connection refused")
	}
	return f.MemoryStore.Listen(ctx, wake)
}

// TestRunListensAgainAfterAFailure: when the store's notifications fail,
// the relay keeps polling and listens again after a pause.
func TestRunListensAgainAfterAFailure(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	s := &flakyListener{MemoryStore: outbox.NewMemoryStore()}
	pub := outbox.NewMemoryPublisher()
	cfg := testConfig(fc)
	cfg.PollInterval = time.Hour
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	fc.BlockUntil(2) // the poll, and the pause before listening again
	assert.Equal(t, int32(1), s.calls.Load())
	fc.Advance(100 * time.Millisecond)
	require.Eventually(t, func() bool { return s.calls.Load() == 2 }, 10*time.Second, time.Millisecond)
	fc.BlockUntil(1)
	enqueueN(t, s.MemoryStore, "k", 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, pub.WaitFor(ctx, 1), "woken by the new listener, not the hour-long poll")
	require.NoError(t, r.Close(ctx))
	require.NoError(t, <-done)
}

// chainCounter counts how a relay claims and finishes.
type chainCounter struct {
	*outbox.MemoryStore
	claims, chained, finishes atomic.Int32
}

func (c *chainCounter) Claim(ctx context.Context, r outbox.ClaimRequest) (outbox.Batch, error) {
	c.claims.Add(1)
	b, err := c.MemoryStore.Claim(ctx, r)
	return countedBatch{b, c}, err
}

type countedBatch struct {
	outbox.Batch
	c *chainCounter
}

func (b countedBatch) Finish(ctx context.Context, o outbox.Outcome) error {
	b.c.finishes.Add(1)
	return b.Batch.Finish(ctx, o)
}

func (b countedBatch) FinishAndClaim(ctx context.Context, o outbox.Outcome, next outbox.ClaimRequest) (outbox.Batch, error) {
	b.c.chained.Add(1)
	nb, err := b.Batch.(outbox.Chainer).FinishAndClaim(ctx, o, next)
	if nb == nil {
		return nil, err
	}
	return countedBatch{nb, b.c}, err
}

// TestRunChainsFullBatches: while batches come back full, the relay records
// each outcome and claims the next batch in one call.
func TestRunChainsFullBatches(t *testing.T) {
	leakcheck.Check(t)
	fc := clocktest.New(t0)
	s := &chainCounter{MemoryStore: outbox.NewMemoryStore()}
	for i := range 25 {
		enqueueN(t, s.MemoryStore, fmt.Sprint("k", i), 0, 1)
	}
	pub := outbox.NewMemoryPublisher()
	cfg := testConfig(fc)
	cfg.BatchSize = 10
	r, err := outbox.NewRelay(pollOnly{s}, pub, cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	fc.BlockUntil(1) // all 25 published, waiting for the poll
	assert.Equal(t, 25, pub.Len())
	assert.Equal(t, int32(1), s.claims.Load(), "one plain claim")
	assert.Equal(t, int32(2), s.chained.Load(), "the two full batches claimed the next one")
	assert.Equal(t, int32(1), s.finishes.Load(), "the last, partial batch just finished")
	require.NoError(t, r.Close(context.Background()))
	require.NoError(t, <-done)
}

// TestHooksMayCallBackIntoTheRelay: an Observer that reads Stats or closes
// the relay does not deadlock it.
func TestHooksMayCallBackIntoTheRelay(t *testing.T) {
	leakcheck.Check(t)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "k", 0, 3)
	var r *outbox.Relay
	var backlog []int
	cfg := outbox.Config{BatchSize: 1, Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		st, err := r.Stats(ctx)
		assert.NoError(t, err)
		backlog = append(backlog, st.Backlog)
		if len(backlog) == 2 {
			assert.NoError(t, r.Close(context.Background()))
		}
	})}
	r, err := outbox.NewRelay(s, outbox.NewMemoryPublisher(), cfg)
	require.NoError(t, err)
	done := make(chan error)
	go func() { done <- r.Run(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after a hook closed the relay")
	}
	assert.Equal(t, []int{2, 1}, backlog, "stopped after the batch whose hook called Close")
}

// failingClaims is a store whose claims fail, reporting each one's time.
// It has no notifications (it embeds the Store interface, not a
// MemoryStore), so only the relay's own waits pace it.
type failingClaims struct {
	outbox.Store
	fc    *clocktest.Fake
	calls chan time.Time
}

func (f failingClaims) Claim(context.Context, outbox.ClaimRequest) (outbox.Batch, error) {
	f.calls <- f.fc.Now()
	return nil, errors.New("connection refused")
}

// TestStoreFailuresBackOffUpToPollInterval: after a failed claim the relay
// waits 100ms, then twice as long after each further failure, never longer
// than PollInterval.
func TestStoreFailuresBackOffUpToPollInterval(t *testing.T) {
	fc := clocktest.New(t0)
	s := failingClaims{Store: outbox.NewMemoryStore(), fc: fc, calls: make(chan time.Time, 1)}
	cfg := testConfig(fc)
	cfg.PollInterval = time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := outbox.NewRelay(s, outbox.NewMemoryPublisher(), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	var gaps []time.Duration
	last := <-s.calls
	fc.BlockUntil(1)
	for len(gaps) < 6 {
		fc.Advance(10 * time.Millisecond)
		if fc.Timers() > 0 {
			continue // still waiting
		}
		at := <-s.calls
		gaps = append(gaps, at.Sub(last))
		last = at
		fc.BlockUntil(1)
	}
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}, gaps)
	cancel()
	<-done
}
