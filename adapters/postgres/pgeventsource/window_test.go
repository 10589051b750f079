package pgeventsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReaderWaitsOutAnUnmarkedPosition: an append that has taken its
// position but not yet marked it in flight (paused between the two, here
// by hand) must not be passed by a reader that finds its position missing
// below a committed one: ReadAll waits until the position is marked, then
// stops before it, and returns it once it commits.
func TestReaderWaitsOutAnUnmarkedPosition(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, nil)
	paused, err := pool.Acquire(ctx) // an append paused in its window
	require.NoError(t, err)
	defer paused.Release()
	var p int64
	require.NoError(t, paused.QueryRow(ctx, `SELECT pg_advisory_lock_shared('bulwark_events_position'::regclass::oid::integer, 0), nextval('bulwark_events_position')`).Scan(nil, &p))
	later := eventsourcetest.NewEvent("later", `{}`)
	res, err := s.Append(ctx, "later", eventsource.NoStream, later)
	require.NoError(t, err)
	require.Greater(t, res.GlobalPosition, p)

	read := make(chan []eventsource.Event, 1)
	go func() {
		page, err := s.ReadAll(ctx, 1, 10)
		assert.NoError(t, err)
		read <- page
	}()
	select {
	case page := <-read:
		t.Fatalf("ReadAll returned %d events past a position taken but not yet marked", len(page))
	case <-time.After(100 * time.Millisecond):
	}
	tx, err := paused.Begin(ctx) // the append marks its position and leaves its window
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock('bulwark_events'::regclass::oid::integer, bulwark_events_inflight($1)),
		pg_advisory_unlock_shared('bulwark_events_position'::regclass::oid::integer, 0)`, p)
	require.NoError(t, err)
	assert.Empty(t, <-read, "the reader stops before the position in flight")

	held := eventsourcetest.NewEvent("held", `{}`)
	_, err = tx.Exec(ctx, `INSERT INTO bulwark_events (position, stream_id, stream_version, event_id, type, schema_version, data, recorded_at)
		VALUES ($1, 'held', 1, $2, 'held', 1, '', now())`, p, held.ID)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	page, err := s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []any{held.ID, later.ID}, []any{page[0].ID, page[1].ID}, "the late commit is read first")
}
