package idempotency_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventLog collects events from any goroutine.
type eventLog struct {
	mu     sync.Mutex
	events []bulwark.Event
}

func (l *eventLog) Observe(_ context.Context, e bulwark.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []bulwark.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]bulwark.Event(nil), l.events...)
}

// TestCleanerCleansAKeeperEveryInterval: the Cleaner cleans up at once and
// once per interval, deleting records as they expire, until its context
// ends.
func TestCleanerCleansAKeeperEveryInterval(t *testing.T) {
	leakcheck.Check(t)
	fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	k := keeperOn(t, s, func(c *idempotency.Config) { c.Clock, c.TTL = fake, 90*time.Minute })
	_, err := idempotency.Do(context.Background(), k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	log := &eventLog{}
	c, err := idempotency.NewCleaner(k, idempotency.CleanerConfig{Interval: time.Hour, Clock: fake, Name: "records", Observer: log})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for range 3 {
		fake.BlockUntil(1)
		fake.Advance(time.Hour)
	}
	fake.BlockUntil(1)
	assert.Equal(t, int32(4), s.deletes.Load(), "one cleanup at the start and one per interval")
	assert.Zero(t, s.Store.(*idempotency.MemoryStore).Len(), "the record expired after its TTL and was deleted")
	assert.Equal(t, []bulwark.Event{
		idempotency.Cleaned{Name: "records", Deleted: 0},
		idempotency.Cleaned{Name: "records", Deleted: 0},
		idempotency.Cleaned{Name: "records", Deleted: 1},
		idempotency.Cleaned{Name: "records", Deleted: 0},
	}, log.all())
	cancel()
	err = <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "idempotency: cleaner")
}

// cleanable is a Cleanable that counts its cleanups and signals each on
// called (when it is not nil).
type cleanable struct {
	mu     sync.Mutex
	calls  int
	err    error
	block  bool          // wait for the context to end
	called chan struct{} // receives one value per cleanup
}

func (c *cleanable) Cleanup(ctx context.Context) (int, error) {
	c.mu.Lock()
	c.calls++
	err, block := c.err, c.block
	c.mu.Unlock()
	if c.called != nil {
		c.called <- struct{}{}
	}
	if block {
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return 3, err
}

// A failed cleanup is reported and tried again at the next interval; Run
// goes on.
func TestCleanerReportsFailuresAndGoesOn(t *testing.T) {
	fake := clocktest.New(time.Now())
	boom := errors.New("store down")
	target := &cleanable{err: boom}
	log := &eventLog{}
	c, err := idempotency.NewCleaner(target, idempotency.CleanerConfig{Interval: time.Minute, Clock: fake, Observer: log})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	fake.BlockUntil(1)
	fake.Advance(time.Minute)
	fake.BlockUntil(1)
	require.NoError(t, c.Close(context.Background()))
	assert.NoError(t, <-done, "Run returns nil after Close")
	events := log.all()
	require.Len(t, events, 2)
	for _, e := range events {
		failed, ok := e.(idempotency.CleanupFailed)
		require.True(t, ok, "%T", e)
		assert.ErrorIs(t, failed.Err, boom)
		assert.Equal(t, "idempotency.cleanup_failed", failed.Kind())
	}
}

// The Cleaner keeps bulwark.Service's lifecycle.
func TestCleanerLifecycle(t *testing.T) {
	leakcheck.Check(t)
	ctx := context.Background()
	t.Run("CloseBeforeRun", func(t *testing.T) {
		c, err := idempotency.NewCleaner(&cleanable{}, idempotency.CleanerConfig{})
		require.NoError(t, err)
		require.NoError(t, c.Close(ctx))
		require.NoError(t, c.Close(ctx), "Close twice")
		assert.ErrorIs(t, c.Run(ctx), bulwark.ErrClosed)
	})
	t.Run("SecondRunAndCloseWhileCleaning", func(t *testing.T) {
		target := &cleanable{block: true, called: make(chan struct{}, 1)}
		log := &eventLog{}
		c, err := idempotency.NewCleaner(target, idempotency.CleanerConfig{Observer: log})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		<-target.called
		assert.ErrorIs(t, c.Run(ctx), bulwark.ErrRunning)
		require.NoError(t, c.Close(ctx), "Close cancels the cleanup in flight")
		assert.NoError(t, <-done)
		assert.Empty(t, log.all(), "a cleanup cut short by Close is not a failure")
		assert.ErrorIs(t, c.Run(ctx), bulwark.ErrClosed)
	})
	t.Run("CloseWaitsWithinItsContext", func(t *testing.T) {
		target := &stubborn{started: make(chan struct{}, 1), release: make(chan struct{})}
		c, err := idempotency.NewCleaner(target, idempotency.CleanerConfig{})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		<-target.started
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, c.Close(short), context.DeadlineExceeded)
		close(target.release)
		assert.NoError(t, <-done)
		assert.NoError(t, c.Close(ctx))
	})
	t.Run("UnderStart", func(t *testing.T) {
		target := &cleanable{called: make(chan struct{}, 1)}
		c, err := idempotency.NewCleaner(target, idempotency.CleanerConfig{Interval: time.Hour})
		require.NoError(t, err)
		g := bulwark.Start(ctx, c)
		<-target.called
		assert.NoError(t, g.Stop(ctx))
	})
}

// stubborn is a Cleanable whose cleanup ignores its context until release
// is closed.
type stubborn struct{ started, release chan struct{} }

func (s *stubborn) Cleanup(context.Context) (int, error) {
	s.started <- struct{}{}
	<-s.release
	return 0, nil
}

func TestNewCleanerRejectsInvalidConfig(t *testing.T) {
	_, err := idempotency.NewCleaner(nil, idempotency.CleanerConfig{})
	assert.EqualError(t, err, "idempotency: NewCleaner needs a target, got nil")
	_, err = idempotency.NewCleaner(&cleanable{}, idempotency.CleanerConfig{Interval: -time.Second})
	assert.EqualError(t, err, "idempotency: CleanerConfig.Interval must be 0 (meaning 5m0s) or at least 1ms, got -1s")
	assert.PanicsWithValue(t, "idempotency: Cleaner used without NewCleaner", func() { _ = new(idempotency.Cleaner).Run(context.Background()) })
	assert.Equal(t, idempotency.CleanerConfig{Interval: 5 * time.Minute, Clock: idempotency.DefaultConfig().Clock}, idempotency.DefaultCleanerConfig())
}

// FuzzNewCleaner: any interval gives an error or a Cleaner that cleans at
// once and stops on Close.
func FuzzNewCleaner(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(time.Millisecond))
	f.Add(int64(-1))
	f.Add(int64(999_999))
	f.Add(int64(1<<63 - 1))
	f.Fuzz(func(t *testing.T, interval int64) {
		target := &cleanable{}
		fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		c, err := idempotency.NewCleaner(target, idempotency.CleanerConfig{Interval: time.Duration(interval), Clock: fake})
		if err != nil {
			require.Contains(t, err.Error(), "CleanerConfig.Interval")
			return
		}
		done := make(chan error, 1)
		go func() { done <- c.Run(context.Background()) }()
		fake.BlockUntil(1)
		require.NoError(t, c.Close(context.Background()))
		require.NoError(t, <-done)
		require.Equal(t, 1, target.calls)
	})
}
