package pgeventsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReaderStopsBeforeASingleEventAppendInFlight: Append's single-event
// statement marks its position in flight, so a reader that finds it
// missing below a committed one stops before it at once (without the mark
// the probe would take the position for rolled back and pass it). The
// append is held in its insert by an open transaction that inserted the
// same event ID.
func TestReaderStopsBeforeASingleEventAppendInFlight(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := newStore(t, nil)
	single := eventsourcetest.NewEvent("single", `{}`)
	blocker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer blocker.Rollback(ctx)
	_, err = blocker.Exec(ctx, `INSERT INTO bulwark_events (position, stream_id, stream_version, event_id, type, schema_version, data, recorded_at)
		VALUES (1000000, 'blocker', 1, $1, 'blocker', 1, '', now())`, single.ID)
	require.NoError(t, err)
	var xid uint32
	require.NoError(t, blocker.QueryRow(ctx, `SELECT pg_current_xact_id()::xid`).Scan(&xid))

	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "single", eventsource.NoStream, single)
		appended <- err
	}()
	require.Eventually(t, func() bool { // position 1 taken, the insert waiting for the blocker
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND transactionid = $1::xid AND NOT granted)`,
			xid).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 10*time.Millisecond)
	later := eventsourcetest.NewEvent("later", `{}`)
	res, err := s.Append(ctx, "later", eventsource.NoStream, later)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.GlobalPosition)

	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	page, err := s.ReadAll(rctx, 1, 10)
	require.NoError(t, err, "the reader does not wait for the append in flight")
	assert.Empty(t, page, "the reader stops before the position in flight")

	require.NoError(t, blocker.Rollback(ctx))
	require.NoError(t, <-appended)
	page, err = s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []uuid.UUID{single.ID, later.ID}, []uuid.UUID{page[0].ID, page[1].ID})
}

// TestFailedSingleEventAppendReleasesTheWindow: the single-event statement
// holds the position window (a session lock) from taking its position to
// marking it; failing in between (here, lock_timeout while it waits for the
// mark) must not leave the window held by the pool's connection, where it
// would block every probe and multi-event append.
func TestFailedSingleEventAppendReleasesTheWindow(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := newStore(t, nil)
	_, err := s.Append(ctx, "first", eventsource.NoStream, eventsourcetest.NewEvent("first", `{}`))
	require.NoError(t, err)

	cfg := pool.Config().Copy()
	cfg.MaxConns = 1
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "100ms"
	impatient, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer impatient.Close()
	s2, err := pgeventsource.New(impatient, pgeventsource.Config{Channel: cfg.ConnConfig.RuntimeParams["search_path"]})
	require.NoError(t, err)

	blocker, err := pool.Begin(ctx) // holds the mark of the next position
	require.NoError(t, err)
	defer blocker.Rollback(ctx)
	_, err = blocker.Exec(ctx, `SELECT pg_advisory_xact_lock('bulwark_events'::regclass::oid::integer, bulwark_events_inflight(2))`)
	require.NoError(t, err)
	_, err = s2.Append(ctx, "stuck", eventsource.NoStream, eventsourcetest.NewEvent("stuck", `{}`))
	require.ErrorContains(t, err, "lock timeout")

	var free bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock('bulwark_events_position'::regclass::oid::integer, 0)`).Scan(&free))
	assert.True(t, free, "the window is free")
	require.NoError(t, blocker.Rollback(ctx))
	res, err := s2.Append(ctx, "stuck", eventsource.NoStream, eventsourcetest.NewEvent("stuck", `{}`))
	require.NoError(t, err, "the connection is usable")
	assert.Equal(t, int64(1), res.StreamVersion)
}
