package pgeventsource_test

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is schema.sql of commit 8cb784d, the last release before
// migrations were versioned, with its own append and probe functions.
//
//go:embed testdata/8cb784d/schema.sql
var previousSQL string

// previousSchema creates the store as that release's Migrate did.
func previousSchema(t *testing.T, pool *pgxpool.Pool, events, snapshots, channel string) {
	t.Helper()
	q := func(s string) string { return pgx.Identifier(strings.Split(s, ".")).Sanitize() }
	_, err := pool.Exec(context.Background(), strings.NewReplacer(
		"{{events}}", q(events), "{{sequence}}", q(events+"_position"), "{{snapshots}}", q(snapshots),
		"{{append}}", q(events+"_append"), "{{inflight}}", q(events+"_inflight"), "{{probe}}", q(events+"_probe"),
		"{{channel}}", "'"+channel+"'",
	).Replace(previousSQL))
	require.NoError(t, err)
}

// TestLongestTableNamesWork: with tables named at the longest length New
// accepts (63 bytes, where the previous release took at most 54 for the
// events), alone or after a schema, Migrate makes the indexes, sequence
// and functions it makes for the default names, and the store appends and
// reads.
func TestLongestTableNamesWork(t *testing.T) {
	ctx := context.Background()
	_, refPool := newStore(t, nil)
	wantEvents := pgtest.Indexes(t, refPool, "bulwark_events")
	wantSnapshots := pgtest.Indexes(t, refPool, "bulwark_snapshots")
	require.Len(t, wantEvents, 3, "position, event_id, stream_id and version")

	events := "events_" + strings.Repeat("e", 63-len("events_"))
	snapshots := "snapshots_" + strings.Repeat("s", 63-len("snapshots_"))
	for _, qualified := range []bool{false, true} {
		t.Run(map[bool]string{false: "unqualified", true: "schema-qualified"}[qualified], func(t *testing.T) {
			var schema string
			s, pool := newStore(t, func(c *pgeventsource.Config) {
				schema = c.Channel // newStore names the channel after the test's schema
				c.EventsTable, c.SnapshotsTable = events, snapshots
				if qualified {
					c.EventsTable, c.SnapshotsTable = schema+"."+events, schema+"."+snapshots
				}
			})
			table := func(name string) string {
				if qualified {
					return schema + "." + name
				}
				return name
			}
			assert.Equal(t, wantEvents, pgtest.Indexes(t, pool, table(events)))
			assert.Equal(t, wantSnapshots, pgtest.Indexes(t, pool, table(snapshots)))
			assert.Equal(t, 3, pgtest.Functions(t, pool, schema), "append, in-flight and probe")

			_, err := s.Append(ctx, "order-1", eventsource.NoStream, eventsourcetest.NewEvent("a", `{}`), eventsourcetest.NewEvent("b", `{}`))
			require.NoError(t, err)
			page, err := s.ReadAll(ctx, 1, 10)
			require.NoError(t, err)
			assert.Len(t, page, 2)
		})
	}
}

// TestMigrateUpgradesThePreviousRelease: a store made and filled by the
// release before versioned migrations (no migrations table), through that
// release's own append function, is adopted by Migrate: its events and
// snapshots are kept, its append and probe functions replaced by this
// release's, and appends continue its streams and positions.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	schema, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	previousSchema(t, pool, "bulwark_events", "bulwark_snapshots", schema)

	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	old := []eventsource.EventData{eventsourcetest.NewEvent("created", `{"n":1}`), eventsourcetest.NewEvent("paid", `{"n":2}`)}
	for i, e := range old {
		var status int
		var version, position int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT status, version, last_position FROM bulwark_events_append(
			'order-1', $1, ARRAY[$2::uuid], ARRAY[$3], ARRAY[1], ARRAY[$4::bytea], ARRAY[''], ARRAY[''], ARRAY[NULL::jsonb], $5, false)`,
			i, e.ID, e.Type, e.Data, at).Scan(&status, &version, &position))
		require.Equal(t, 0, status)
		require.Equal(t, int64(i+1), version)
	}
	_, err = pool.Exec(ctx, `INSERT INTO bulwark_snapshots (stream_id, stream_version, event_id, schema_version, data, recorded_at)
		VALUES ('order-1', 2, $1, 1, 'state', $2)`, old[1].ID, at)
	require.NoError(t, err)
	var probe string
	require.NoError(t, pool.QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE oid = 'bulwark_events_probe'::regproc`).Scan(&probe))
	require.NotContains(t, probe, "FOR attempt", "the previous release's probe")

	s, err := pgeventsource.New(pool, pgeventsource.Config{Channel: schema})
	require.NoError(t, err)
	pgtest.MigrateConcurrently(t, 3, s.Migrate)
	assert.Equal(t, 1, pgtest.Version(t, pool, "pgeventsource", "bulwark_events"))
	var appendFn string
	require.NoError(t, pool.QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE oid = 'bulwark_events_probe'::regproc`).Scan(&probe))
	require.NoError(t, pool.QueryRow(ctx, `SELECT prosrc FROM pg_proc WHERE oid = 'bulwark_events_append'::regproc`).Scan(&appendFn))
	assert.Contains(t, probe, "FOR attempt IN 1..2 LOOP", "this release's probe")
	assert.Contains(t, appendFn, "pg_advisory_lock_shared(sequence_oid, 0)", "this release's append")
	assert.Equal(t, 3, pgtest.Functions(t, pool, schema), "replaced, not added")

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
	page, err := s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	assert.Len(t, page, 3)
}

// TestAppendLocksKeepTheirValues: processes of the previous release append
// beside this one's during a rolling upgrade, and a stream's appends take
// turns, and readers wait for appends in flight, only if both take the
// same locks: the stream's (hashtextextended of the stream ID with the
// events table's oid as seed) and the in-flight mark of the first position
// (the events table's oid, the position's low 32 bits, signed).
func TestAppendLocksKeepTheirValues(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, nil)
	var seeded int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT hashtextextended('order-1', 16384)`).Scan(&seeded))
	assert.Equal(t, int64(-2740689773941988355), seeded, "PostgreSQL's hash is stable")

	var oid uint32
	require.NoError(t, pool.QueryRow(ctx, `SELECT 'bulwark_events'::regclass::oid`).Scan(&oid))
	var stream int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT hashtextextended('order-1', $1::oid::integer)`, oid).Scan(&stream))
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	res, err := s.AppendTx(ctx, tx, "order-1", eventsource.NoStream, eventsourcetest.NewEvent("a", `{}`), eventsourcetest.NewEvent("b", `{}`))
	require.NoError(t, err)
	first := res.GlobalPosition - 1
	assert.Equal(t, []string{
		fmt.Sprintf("int4 %d %d", int32(oid), int32(first%(1<<32)-(1<<31))),
		fmt.Sprintf("int8 %d", stream),
	}, pgtest.AdvisoryLocks(t, pool, tx.Conn().PgConn().PID()))
}
