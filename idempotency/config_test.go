package idempotency_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	s := idempotency.NewMemoryStore()
	_, err := idempotency.New(nil, idempotency.Config{})
	assert.EqualError(t, err, "idempotency: New needs a store, got nil")
	for _, tc := range []struct {
		cfg  idempotency.Config
		want string
	}{
		{idempotency.Config{Lease: -1}, "Config.Lease must be 0 (meaning 1m0s) or at least 1ms, got -1ns"},
		{idempotency.Config{Lease: time.Microsecond}, "Config.Lease must be 0 (meaning 1m0s) or at least 1ms, got 1µs"},
		{idempotency.Config{TTL: -time.Hour}, "Config.TTL must be 0 (meaning 24h0m0s) or at least 1ms, got -1h0m0s"},
		{idempotency.Config{TTL: 30 * time.Second}, "Config.TTL must be at least Config.Lease (1m0s), got 30s"},
		{idempotency.Config{Lease: 48 * time.Hour}, "Config.TTL must be at least Config.Lease (48h0m0s), got 24h0m0s"},
		{idempotency.Config{Wait: -1}, "Config.Wait must be >= 0 (0: duplicates do not wait), got -1ns"},
		{idempotency.Config{PollInterval: -time.Second}, "Config.PollInterval must be 0 (meaning 50ms) or at least 1ms, got -1s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := idempotency.New(s, tc.cfg)
			require.Error(t, err)
			assert.Equal(t, "idempotency: "+tc.want, err.Error())
		})
	}
	_, err = idempotency.New(s, idempotency.DefaultConfig())
	assert.NoError(t, err)
}

// The zero Config behaves as DefaultConfig says: a 1-minute lease, a
// 24-hour TTL, no waiting.
func TestZeroConfigIsTheDefault(t *testing.T) {
	for name, cfg := range map[string]idempotency.Config{"zero": {}, "DefaultConfig": idempotency.DefaultConfig()} {
		t.Run(name, func(t *testing.T) {
			fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			cfg.Clock = fake
			k, err := idempotency.New(idempotency.NewMemoryStore(), cfg)
			require.NoError(t, err)
			ctx := context.Background()
			_, _, err = k.Start(ctx, idempotency.Request{Key: "held"})
			require.NoError(t, err)
			_, _, err = k.Start(ctx, idempotency.Request{Key: "held"})
			var busy *idempotency.InProgressError
			require.ErrorAs(t, err, &busy, "a duplicate does not wait")
			assert.Equal(t, time.Minute, busy.Wait, "the lease")

			runs := 0
			op := func(ctx context.Context) (int, error) { runs++; return runs, nil }
			_, err = idempotency.Do(ctx, k, idempotency.Request{Key: "done"}, op)
			require.NoError(t, err)
			fake.Advance(24*time.Hour - time.Millisecond)
			v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "done"}, op)
			require.NoError(t, err)
			assert.Equal(t, 1, v, "replayed within the TTL")
			fake.Advance(time.Millisecond)
			v, err = idempotency.Do(ctx, k, idempotency.Request{Key: "done"}, op)
			require.NoError(t, err)
			assert.Equal(t, 2, v, "new again after 24 h")
		})
	}
}

// FuzzNew feeds New arbitrary durations: it returns an error, or a Keeper
// that runs an operation once, replays it, and answers a duplicate of a
// request in flight without hanging.
func FuzzNew(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0), int64(0))
	f.Add(int64(time.Minute), int64(24*time.Hour), int64(0), int64(50*time.Millisecond))
	f.Add(int64(-1), int64(0), int64(0), int64(0))
	f.Add(int64(time.Hour), int64(time.Minute), int64(time.Second), int64(time.Millisecond))
	f.Add(int64(1<<62), int64(1<<63-1), int64(1<<63-1), int64(1<<63-1))
	f.Add(int64(time.Millisecond), int64(time.Millisecond), int64(-5), int64(1))
	f.Fuzz(func(t *testing.T, lease, ttl, wait, poll int64) {
		fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		cfg := idempotency.Config{Lease: time.Duration(lease), TTL: time.Duration(ttl), Wait: time.Duration(wait), PollInterval: time.Duration(poll), Clock: fake}
		k, err := idempotency.New(idempotency.NewMemoryStore(), cfg)
		if err != nil {
			assert.Contains(t, err.Error(), "idempotency: Config.")
			return
		}
		ctx := context.Background()
		runs := 0
		for range 2 {
			v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "k"}, func(context.Context) (int, error) { runs++; return 7, nil })
			require.NoError(t, err)
			require.Equal(t, 7, v)
		}
		require.Equal(t, 1, runs)
		_, _, err = k.Start(ctx, idempotency.Request{Key: "held"})
		require.NoError(t, err)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, _, err = k.Start(cancelled, idempotency.Request{Key: "held"})
		require.True(t, errors.Is(err, idempotency.ErrInProgress) || errors.Is(err, context.Canceled), "%v", err)
	})
}

func TestNewInbox(t *testing.T) {
	_, err := idempotency.NewInbox(nil, idempotency.InboxConfig{})
	assert.EqualError(t, err, "idempotency: NewInbox needs a keeper, got nil")
	assert.PanicsWithValue(t, "idempotency: Inbox used without NewInbox", func() {
		_, _ = new(idempotency.Inbox).Process(context.Background(), "m", func(context.Context) error { return nil })
	})
}

// FuzzNewInbox: any consumer and name make an inbox that processes a
// message once, kept apart from every other consumer's.
func FuzzNewInbox(f *testing.F) {
	f.Add("", "")
	f.Add("billing", "inbox")
	f.Add("a\x00b", "ünï")
	f.Fuzz(func(t *testing.T, consumer, name string) {
		k, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
		require.NoError(t, err)
		in, err := idempotency.NewInbox(k, idempotency.InboxConfig{Consumer: consumer, Name: name})
		require.NoError(t, err)
		other, err := idempotency.NewInbox(k, idempotency.InboxConfig{Consumer: consumer + "-other"})
		require.NoError(t, err)
		for i, want := range []bool{true, false} {
			ran, err := in.Process(context.Background(), "m-1", func(context.Context) error { return nil })
			require.NoError(t, err)
			require.Equal(t, want, ran, "delivery %d", i+1)
		}
		ran, err := other.Process(context.Background(), "m-1", func(context.Context) error { return nil })
		require.NoError(t, err)
		require.True(t, ran)
	})
}

func TestZeroKeeperPanics(t *testing.T) {
	assert.PanicsWithValue(t, "idempotency: Keeper used without New", func() {
		_, _, _ = new(idempotency.Keeper).Start(context.Background(), idempotency.Request{Key: "k"})
	})
	assert.PanicsWithValue(t, "idempotency: Keeper used without New", func() { _, _ = new(idempotency.Keeper).Cleanup(context.Background()) })
	assert.PanicsWithValue(t, "idempotency: Attempt used without Keeper.Start", func() {
		_ = new(idempotency.Attempt).Complete(context.Background(), nil)
	})
}

func TestStartRejectsAnEmptyKey(t *testing.T) {
	k, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	require.NoError(t, err)
	_, err = idempotency.Do(t.Context(), k, idempotency.Request{}, func(ctx context.Context) (int, error) { return 1, nil })
	assert.ErrorIs(t, err, idempotency.ErrInvalidKey)
}
