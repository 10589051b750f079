package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
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

// TestInvalidMessageIsDeadLetteredAtOnce: a publish error matching
// ErrInvalidMessage is not retried, whatever MaxAttempts says, and the
// message's key waits behind the dead letter as usual.
func TestInvalidMessageIsDeadLetteredAtOnce(t *testing.T) {
	ctx := context.Background()
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 2)
	enqueueN(t, s, "b", 0, 1)
	log := &hookLog{}
	cfg := hooked(testConfig(fc), log)
	cfg.MaxAttempts = outbox.Unlimited
	pub := outbox.NewMemoryPublisher()
	r, err := outbox.NewRelay(s, outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		if string(m.Payload) == "a0" {
			return fmt.Errorf("broker: header too large: %w", outbox.ErrInvalidMessage)
		}
		return pub.Publish(ctx, m)
	}), cfg)
	require.NoError(t, err)
	res, err := r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, outbox.BatchResult{Claimed: 3, Published: 1, DeadLettered: 1}, res)
	assert.Equal(t, []string{"invalid a0 after 1: broker: header too large: outbox: invalid message", "published b0"}, log.take())
	dls, err := s.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, "a0", string(dls[0].Payload))
	fc.Advance(time.Hour)
	res, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Zero(t, res.Claimed, "a1 waits behind the dead letter")
}

// TestZeroConfigMeansDefaults: a relay from Config{} dead-letters after 10
// failed attempts, waiting between them as the default Backoff says
// (exponential from 1 s with equal jitter, capped at 1 min).
func TestZeroConfigMeansDefaults(t *testing.T) {
	ctx := context.Background()
	fc := clocktest.New(t0)
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 1)
	var events []bulwark.Event
	r, err := outbox.NewRelay(s, outbox.PublisherFunc(func(context.Context, outbox.Message) error {
		return errors.New("down")
	}), outbox.Config{Clock: fc, Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { events = append(events, e) })})
	require.NoError(t, err)
	for attempt := 1; attempt <= 10; attempt++ {
		res, err := r.ProcessBatch(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, res.Claimed, "attempt %d", attempt)
		require.Len(t, events, attempt)
		if attempt == 10 {
			dead, ok := events[9].(outbox.DeadLettered)
			require.True(t, ok, "the 10th failure dead-letters, got %T", events[9])
			assert.Equal(t, 10, dead.Attempts)
			assert.False(t, dead.Invalid)
			break
		}
		f, ok := events[attempt-1].(outbox.PublishFailed)
		require.True(t, ok, "%T", events[attempt-1])
		full := min(time.Second<<(attempt-1), time.Minute)
		wait := f.RetryAt.Sub(fc.Now())
		assert.GreaterOrEqual(t, wait, full/2, "attempt %d", attempt)
		assert.Less(t, wait, full, "attempt %d", attempt)
		fc.Set(f.RetryAt)
	}
}

// TestZeroValuesPanic: types made by a constructor panic from their
// methods, naming the type, when used without it.
func TestZeroValuesPanic(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		typ string
		f   func()
	}{
		{"Relay", func() { _ = new(outbox.Relay).Run(ctx) }},
		{"Relay", func() { _ = (*outbox.Relay)(nil).Run(ctx) }},
		{"Relay", func() { _ = new(outbox.Relay).Close(ctx) }},
		{"Relay", func() { _, _ = new(outbox.Relay).ProcessBatch(ctx) }},
		{"Relay", func() { _, _ = new(outbox.Relay).Stats(ctx) }},
		{"MemoryStore", func() { _ = new(outbox.MemoryStore).Enqueue(ctx) }},
		{"MemoryStore", func() { _ = new(outbox.MemoryStore).Listen(ctx, func() {}) }},
		{"MemoryStore", func() { _, _ = new(outbox.MemoryStore).Claim(ctx, outbox.ClaimRequest{Limit: 1}) }},
		{"MemoryStore", func() { _, _ = new(outbox.MemoryStore).Stats(ctx) }},
		{"MemoryStore", func() { _, _ = new(outbox.MemoryStore).DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 1}) }},
		{"MemoryStore", func() { _, _ = new(outbox.MemoryStore).Replay(ctx) }},
		{"MemoryStore", func() { _, _ = new(outbox.MemoryStore).Discard(ctx) }},
		{"MemoryStore", func() { _, _ = new(outbox.MemoryStore).Cleanup(ctx, t0) }},
		{"MemoryPublisher", func() { _ = new(outbox.MemoryPublisher).Publish(ctx, outbox.Message{Topic: "t"}) }},
		{"MemoryPublisher", func() { _ = new(outbox.MemoryPublisher).Messages() }},
		{"MemoryPublisher", func() { _ = new(outbox.MemoryPublisher).Len() }},
		{"MemoryPublisher", func() { _ = new(outbox.MemoryPublisher).WaitFor(ctx, 1) }},
	} {
		assert.PanicsWithValue(t, "outbox: "+tc.typ+" used without New"+tc.typ, tc.f)
	}
}

// blockingFinish is a store whose Finish waits for its context, then
// records nothing, as a database call cut off by its context does.
type blockingFinish struct {
	*outbox.MemoryStore
	entered chan struct{}
}

func (s blockingFinish) Claim(ctx context.Context, r outbox.ClaimRequest) (outbox.Batch, error) {
	b, err := s.MemoryStore.Claim(ctx, r)
	if err != nil || len(b.Messages()) == 0 {
		return b, err
	}
	return finishBlocks{b, s.entered}, nil
}

type finishBlocks struct {
	outbox.Batch
	entered chan struct{}
}

func (b finishBlocks) Finish(ctx context.Context, _ outbox.Outcome) error {
	close(b.entered)
	<-ctx.Done()
	_ = b.Batch.Release(context.Background())
	return ctx.Err()
}

// TestCloseDeadlineCutsTheRecording: Close returns by its context's end
// even while the outcome is being recorded; the recording is cancelled, so
// the batch stays as claimed (nothing half-recorded) and Run returns.
func TestCloseDeadlineCutsTheRecording(t *testing.T) {
	leakcheck.Check(t)
	s := blockingFinish{outbox.NewMemoryStore(), make(chan struct{})}
	enqueueN(t, s.MemoryStore, "a", 0, 2)
	var observed []bulwark.Event
	r, err := outbox.NewRelay(s, outbox.NewMemoryPublisher(), outbox.Config{
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { observed = append(observed, e) }),
	})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	<-s.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = r.Close(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualError(t, err, "outbox: closing the relay: context deadline exceeded")
	assert.Less(t, time.Since(start), 5*time.Second, "the 10 s recording bound did not hold Close")
	assert.NoError(t, <-done, "Run ended by Close returns nil")
	assert.Empty(t, observed, "no events for an outcome that was not recorded")
	b, err := s.MemoryStore.Claim(context.Background(), outbox.ClaimRequest{Limit: 10, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	assert.Len(t, b.Messages(), 2, "both messages are pending again")
	for _, m := range b.Messages() {
		assert.Zero(t, m.Attempts)
	}
}

// TestCloseBeforeRun: Close before Run returns nil at once, and Run then
// refuses to start.
func TestCloseBeforeRun(t *testing.T) {
	r, err := outbox.NewRelay(outbox.NewMemoryStore(), outbox.NewMemoryPublisher(), outbox.Config{})
	require.NoError(t, err)
	require.NoError(t, r.Close(context.Background()))
	require.NoError(t, r.Close(context.Background()))
	assert.ErrorIs(t, r.Run(context.Background()), bulwark.ErrClosed)
}

// TestEventsAreReportedWithTheRelaysContext: each event carries the
// relay's name, and Observe gets the context of the work (Run's, with its
// values).
func TestEventsAreReportedWithTheRelaysContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "run-ctx")
	s := outbox.NewMemoryStore()
	enqueueN(t, s, "a", 0, 1)
	enqueueN(t, s, "b", 0, 1)
	enqueueN(t, s, "c", 0, 1)
	var mu sync.Mutex
	kinds := map[string]bool{}
	r, err := outbox.NewRelay(s, outbox.PublisherFunc(func(_ context.Context, m outbox.Message) error {
		switch string(m.Payload) {
		case "b0":
			return errors.New("down")
		case "c0":
			return outbox.ErrInvalidMessage
		}
		return nil
	}), outbox.Config{Name: "orders", Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, "run-ctx", ctx.Value(key{}))
		assert.Equal(t, "orders", e.Component())
		assert.Equal(t, slog.KindGroup, e.LogValue().Kind())
		kinds[e.Kind()] = true
	})})
	require.NoError(t, err)
	_, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"outbox.published": true, "outbox.publish_failed": true, "outbox.dead_lettered": true}, kinds)
}

func TestEventLogValues(t *testing.T) {
	m := outbox.Message{Topic: "t", Key: "k"}
	at := t0.Add(time.Second)
	for _, tc := range []struct {
		e    bulwark.Event
		want string
	}{
		{outbox.Published{Relay: "r", Message: m, Attempts: 2}, "id=00000000-0000-0000-0000-000000000000 topic=t key=k attempts=2"},
		{outbox.PublishFailed{Relay: "r", Message: m, Attempts: 1, Err: errors.New("x"), RetryAt: at}, "id=00000000-0000-0000-0000-000000000000 topic=t key=k attempts=1 error=x retry_at=" + at.Format(time.RFC3339)},
		{outbox.DeadLettered{Relay: "r", Message: m, Attempts: 3, Err: errors.New("y"), Invalid: true}, "id=00000000-0000-0000-0000-000000000000 topic=t key=k attempts=3 error=y invalid=true"},
	} {
		var b strings.Builder
		for _, a := range tc.e.LogValue().Group() {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			v := a.Value.Resolve()
			if v.Kind() == slog.KindTime {
				fmt.Fprintf(&b, "%s=%s", a.Key, v.Time().Format(time.RFC3339))
			} else {
				fmt.Fprintf(&b, "%s=%v", a.Key, v.Any())
			}
		}
		assert.Equal(t, tc.want, b.String(), tc.e.Kind())
		assert.Equal(t, "r", tc.e.Component())
	}
}

// FuzzNew feeds NewRelay arbitrary settings: it returns an error, or a
// relay that processes a batch without panicking or hanging, schedules
// every retry within MaxDelay (1 min when zero), and dead-letters on time.
func FuzzNew(f *testing.F) {
	f.Add(0, 0, int64(0), int64(0), int64(0), 0, uint8(0), int64(0), 0.0, 0, int64(0), int64(0), int64(0))
	f.Add(100, 8, int64(time.Second), int64(10*time.Second), int64(time.Minute), 10, uint8(1), int64(time.Second), 2.0, 2, int64(time.Minute), int64(0), int64(time.Minute))
	f.Add(1, 1, int64(1), int64(-1), int64(1), -1, uint8(2), int64(1), math.NaN(), 0, int64(1), int64(1), int64(1))
	f.Add(-1, 2000, int64(-1), int64(-5), int64(-1), -7, uint8(3), int64(-1), math.Inf(1), 9, int64(-1), int64(-1), int64(-1))
	f.Add(10000, 1024, int64(24*time.Hour), int64(time.Hour), int64(24*time.Hour), 1000000, uint8(1), int64(math.MaxInt64), 100.0, 1, int64(24*time.Hour), int64(87600*time.Hour), int64(24*time.Hour))
	f.Add(3, 2, int64(time.Millisecond), int64(0), int64(5*time.Second), 1, uint8(4), int64(time.Hour), 1.0, 0, int64(time.Second), int64(time.Hour), int64(0))
	f.Fuzz(func(t *testing.T, batch, conc int, poll, pubTimeout, lease int64, attempts int, kind uint8, initial int64, mult float64, jitter int, maxDelay, retention, cleanup int64) {
		cfg := outbox.Config{
			BatchSize: batch, Concurrency: conc, PollInterval: time.Duration(poll), PublishTimeout: time.Duration(pubTimeout),
			Lease: time.Duration(lease), MaxAttempts: attempts, MaxDelay: time.Duration(maxDelay),
			Retention: time.Duration(retention), CleanupInterval: time.Duration(cleanup),
		}
		switch kind % 5 {
		case 1:
			cfg.Backoff = retry.Exponential{Initial: time.Duration(initial), Multiplier: mult, Jitter: retry.Jitter(jitter)}
		case 2:
			cfg.Backoff = retry.Constant{Delay: time.Duration(initial)}
		case 3:
			cfg.Backoff = retry.Decorrelated{Base: time.Duration(initial)}
		case 4:
			cfg.Backoff = retry.BackOff{}
		}
		fc := clocktest.New(t0)
		cfg.Clock = fc
		var events []bulwark.Event
		cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { events = append(events, e) })
		s := outbox.NewMemoryStore()
		r, err := outbox.NewRelay(s, outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
			if m.Key == "bad" {
				return errors.New("down")
			}
			return ctx.Err()
		}), cfg)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "outbox: Config."), err.Error())
			return
		}
		enqueueN(t, s, "bad", 0, 1)
		enqueueN(t, s, "good", 0, 2)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := r.ProcessBatch(ctx)
		require.NoError(t, err)
		require.NoError(t, ctx.Err(), "ProcessBatch took 10 s")
		assert.LessOrEqual(t, res.Published+res.Retried+res.DeadLettered, res.Claimed)
		capDelay := cfg.MaxDelay
		if capDelay == 0 {
			capDelay = time.Minute
		}
		for _, e := range events {
			switch e := e.(type) {
			case outbox.PublishFailed:
				wait := e.RetryAt.Sub(fc.Now())
				assert.GreaterOrEqual(t, wait, time.Duration(0))
				assert.LessOrEqual(t, wait, capDelay)
				assert.NotEqual(t, 1, attempts, "MaxAttempts 1 dead-letters at the first failure")
			case outbox.DeadLettered:
				assert.Equal(t, 1, attempts, "dead-lettered after one attempt with MaxAttempts %d", attempts)
			}
		}
		require.NoError(t, r.Close(context.Background()))
	})
}
