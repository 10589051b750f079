package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStates: one Run at a time, none after Close; Close waits for the Run
// in flight, or cancels its work when its ctx ends first.
func TestStates(t *testing.T) {
	s := lifecycle.New()
	work, err := s.Begin(context.Background())
	require.NoError(t, err)
	_, err = s.Begin(context.Background())
	require.ErrorIs(t, err, bulwark.ErrRunning)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err = s.Close(ctx, "thing")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "thing: closing before the work in flight ended")
	require.ErrorIs(t, work.Err(), context.Canceled, "the work is cancelled")
	select {
	case <-s.Stop:
	default:
		t.Fatal("Stop is not closed")
	}
	assert.True(t, s.Closed())
	s.End()
	_, err = s.Begin(context.Background())
	require.ErrorIs(t, err, bulwark.ErrClosed)
	require.NoError(t, s.Close(context.Background(), "thing"), "Close again, nothing running")

	s = lifecycle.New()
	_, err = s.Begin(context.Background())
	require.NoError(t, err)
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background(), "thing") }()
	<-s.Stop
	s.End()
	require.NoError(t, <-closed, "Close returns once the Run has ended")
}
