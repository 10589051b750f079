package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSleepWaitsForTheFullDuration(t *testing.T) {
	fc := clocktest.New(epoch)
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(context.Background(), fc, time.Second) }()
	fc.BlockUntil(1)
	fc.Advance(999 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Sleep returned before its duration")
	default:
	}
	fc.Advance(time.Millisecond)
	require.NoError(t, <-done)
}

func TestSleepEndsWhenContextIsCancelled(t *testing.T) {
	fc := clocktest.New(epoch)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(ctx, fc, time.Hour) }()
	fc.BlockUntil(1)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, 0, fc.Timers(), "the cancelled sleep stops its timer")
}

func TestSleepWithoutDuration(t *testing.T) {
	require.NoError(t, clock.Sleep(context.Background(), clock.System, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, clock.Sleep(ctx, clock.System, -time.Second), context.Canceled)
}

func TestSystemClockSleeps(t *testing.T) {
	start := time.Now()
	require.NoError(t, clock.Sleep(context.Background(), clock.System, 5*time.Millisecond))
	assert.GreaterOrEqual(t, time.Since(start), 5*time.Millisecond)
}

func TestOrSystem(t *testing.T) {
	assert.Equal(t, clock.System, clock.OrSystem(nil))
	fc := clocktest.New(epoch)
	assert.Equal(t, clock.Clock(fc), clock.OrSystem(fc))
}
