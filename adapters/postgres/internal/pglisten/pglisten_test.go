package pglisten_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglisten"
	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunWakesOnceThenPerNotification(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	wakes := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- pglisten.Run(ctx, pool.Config().ConnConfig, "LISTEN pglisten_test", func() { wakes <- struct{}{} })
	}()
	receive := func(what string) {
		t.Helper()
		select {
		case <-wakes:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake %s", what)
		}
	}
	receive("after LISTEN")
	_, err := pool.Exec(context.Background(), "NOTIFY pglisten_test")
	require.NoError(t, err)
	receive("after NOTIFY")
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestRunReportsAFailedListen(t *testing.T) {
	pool := pgtest.Pool(t)
	err := pglisten.Run(context.Background(), pool.Config().ConnConfig, "LISTEN", func() { t.Error("woken without listening") })
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.Canceled))
	assert.Contains(t, err.Error(), "listening")
}
