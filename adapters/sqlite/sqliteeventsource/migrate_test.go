package sqliteeventsource_test

import (
	"context"
	_ "embed"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is schema.sql of commit 8cb784d, the last release before
// migrations were versioned.
//
//go:embed testdata/8cb784d/schema.sql
var previousSQL string

// TestLongestTableNamesKeepEveryIndex: with tables named at the longest
// length New accepts (63 bytes), alone or in an attached database, Migrate
// makes the indexes it makes for the default names.
func TestLongestTableNamesKeepEveryIndex(t *testing.T) {
	ctx := context.Background()
	ref := sqlitetest.Open(t)
	newStore(t, ref)
	wantEvents := sqlitetest.Indexes(t, ref, "bulwark_events")
	wantSnapshots := sqlitetest.Indexes(t, ref, "bulwark_snapshots")
	require.Len(t, wantEvents, 2, "event_id, stream_id and version")

	events, snapshots := "e"+strings.Repeat("e", 62), "s"+strings.Repeat("s", 62)
	for _, schema := range []string{"", "app."} {
		db := sqlitetest.Attached(t)
		s, err := sqliteeventsource.New(db, sqliteeventsource.Config{EventsTable: schema + events, SnapshotsTable: schema + snapshots})
		require.NoError(t, err)
		require.NoError(t, s.Migrate(ctx))
		assert.Equal(t, wantEvents, sqlitetest.Indexes(t, db, schema+events))
		assert.Equal(t, wantSnapshots, sqlitetest.Indexes(t, db, schema+snapshots))
		_, err = s.Append(ctx, "order-1", eventsource.NoStream, eventsourcetest.NewEvent("a", `{}`))
		require.NoError(t, err)
	}
}

// TestMigrateUpgradesThePreviousRelease: a store made and filled by the
// release before versioned migrations (no migrations table) is adopted by
// Migrate, from several processes at once, and brought to the latest
// version with its events and snapshots intact; appends continue its
// streams and positions.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	path, db := sqlitetest.Previous(t, previousSQL, "{{events}}", `"bulwark_events"`, "{{snapshots}}", `"bulwark_snapshots"`)
	// Events and a snapshot as the previous release's Append and
	// SaveSnapshot wrote them.
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixMicro()
	old := []eventsource.EventData{eventsourcetest.NewEvent("created", `{"n":1}`), eventsourcetest.NewEvent("paid", `{"n":2}`)}
	for i, e := range old {
		_, err := db.Exec(`INSERT INTO "bulwark_events" (position, stream_id, stream_version, event_id, type, schema_version, data,
			correlation_id, causation_id, headers, recorded_at) VALUES (?, 'order-1', ?, ?, ?, 1, ?, '', '', NULL, ?)`,
			i+1, i+1, e.ID[:], e.Type, e.Data, at)
		require.NoError(t, err)
	}
	_, err := db.Exec(`INSERT INTO "bulwark_snapshots" (stream_id, stream_version, event_id, schema_version, data, recorded_at)
		VALUES ('order-1', 2, ?, 1, 'state', ?)`, old[1].ID[:], at)
	require.NoError(t, err)

	s := sqlitetest.Upgrade(t, path, db, sqliteeventsource.New, sqliteeventsource.Config{}, "sqliteeventsource", "bulwark_events", 1)
	var got []eventsource.Event
	for e, err := range s.ReadStream(ctx, "order-1", 1) {
		require.NoError(t, err)
		got = append(got, e)
	}
	require.Len(t, got, 2)
	assert.Equal(t, old[0].ID, got[0].ID)
	assert.Equal(t, `{"n":2}`, string(got[1].Data))
	snap, ok, err := s.LoadSnapshot(ctx, "order-1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "state", string(snap.Data))
	res, err := s.Append(ctx, "order-1", 2, eventsourcetest.NewEvent("shipped", `{}`))
	require.NoError(t, err)
	assert.Equal(t, int64(3), res.StreamVersion)
	assert.Equal(t, int64(3), res.GlobalPosition)
	repeat, err := s.Append(ctx, "order-1", 0, old...)
	require.NoError(t, err, "a repeat of an append stored by the previous release")
	assert.Equal(t, int64(2), repeat.StreamVersion)
}
