package timeout_test

import (
	"context"
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/timeout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call keeps the timeout it started with; calls started after Reconfigure
// get the new one.
func TestReconfigureAppliesToCallsStartedAfterIt(t *testing.T) {
	clk := clocktest.New(epoch)
	tm := newTimeout(t, timeout.Config{Timeout: 10 * time.Second, Clock: clk})
	release := make(chan struct{})
	old := call(tm, context.Background(), func(ctx context.Context) error {
		<-ctx.Done()
		<-release
		return ctx.Err()
	})
	clk.BlockUntil(1)

	require.NoError(t, tm.Reconfigure(timeout.Config{Timeout: time.Second}))
	assert.Equal(t, time.Second, tm.Settings().Timeout)
	fresh := call(tm, context.Background(), func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	clk.BlockUntil(2)

	clk.Advance(time.Second)
	err := <-fresh
	require.ErrorIs(t, err, timeout.ErrTimeout)
	assert.Contains(t, err.Error(), "1s")
	notWithin(t, old, "the call started before Reconfigure timed out at the new, shorter timeout")

	clk.Advance(9 * time.Second)
	close(release)
	err = <-old
	require.ErrorIs(t, err, timeout.ErrTimeout)
	assert.Contains(t, err.Error(), "10s")
}

func TestReconfigureRefusesInvalidSettingsAndKeepsTheOld(t *testing.T) {
	tm := newTimeout(t, timeout.Config{Timeout: 3 * time.Second})
	err := tm.Reconfigure(timeout.Config{Timeout: -time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.Timeout")
	assert.Equal(t, 3*time.Second, tm.Settings().Timeout)

	// The zero Config is the defaults, as for New.
	require.NoError(t, tm.Reconfigure(timeout.Config{}))
	assert.Equal(t, timeout.DefaultTimeout, tm.Settings().Timeout)
}

// Reconfigure under full load: every call runs under one of the two
// configurations whole (its deadline and its Detach agree), never a mix.
func TestReconfigureUnderLoadIsNeverTorn(t *testing.T) {
	tm := newTimeout(t, timeout.Config{Timeout: time.Hour})
	var torn, calls atomic.Int64
	loadtest.While(8, func() {
		_ = tm.Do(context.Background(), func(ctx context.Context) error {
			d, ok := ctx.Deadline()
			left := time.Until(d)
			// Config A: 1h, waits. Config B: 30m, detached (op runs on
			// another goroutine, which the test cannot see, so it
			// checks the deadline alone against A and B).
			if !ok || (left > time.Hour) || (left < 29*time.Minute) || (left > 31*time.Minute && left < 59*time.Minute) {
				torn.Add(1)
			}
			calls.Add(1)
			return nil
		})
	}, func() {
		for i := range 2000 {
			cfg := timeout.Config{Timeout: time.Hour}
			if i%2 == 1 {
				cfg = timeout.Config{Timeout: 30 * time.Minute, Detach: true}
			}
			require.NoError(t, tm.Reconfigure(cfg))
		}
	})
	assert.Zero(t, torn.Load(), "calls whose deadline matched neither configuration")
	assert.NotZero(t, calls.Load())
}
