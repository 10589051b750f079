// Package pgeventsource is the PostgreSQL event store (package eventsource),
// on pgx/v5: an eventsource.Store, Listener and SnapshotStore that passes
// the eventsourcetest conformance suite.
//
// Tables. Events live in one table keyed by (stream, version). The global
// order lives in a second, narrow table, the log: one row per append, giving
// the append's events their global positions. Snapshots have a table of
// their own. Migrate creates the three and a PL/pgSQL function that does an
// append in one round trip.
//
// Gap safety. A global position is worth something only if a reader that
// continues after the last position it saw can never miss an event that
// commits late — the trap of event stores that take positions from a
// sequence, whose values are handed out at insert, not at commit. Here an
// append inserts its events first, in parallel with appends to other
// streams, then takes a transaction-scoped advisory lock on the log, writes
// its log row and commits; the next append's log row waits for that commit.
// So positions are given in commit order, without gaps, and reading "after
// position p" is always safe. Only the log row and the commit are
// serialized: batched appends from many writers keep most of the throughput
// of plain inserts.
//
// Transactions. AppendTx appends in the caller's pgx transaction, so events
// and, say, outbox messages (adapters/postgres/pgoutbox) commit together.
// The log lock is then held until the caller commits, and every other append
// waits for it: keep such transactions short. A transaction that appends to
// several streams may find one busy after it took the log lock; it then
// fails at once with SQLSTATE 40001 (serialization_failure) instead of
// deadlocking: roll back and retry. Appends need READ COMMITTED isolation
// (PostgreSQL's default).
//
// Notifications. Each append sends a NOTIFY on Config.Channel when it
// commits; Listen waits for them on a connection of its own, so
// subscriptions see new events at once.
package pgeventsource

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Store. Start from DefaultConfig.
type Config struct {
	// Pool is the database. Required. ReadStream holds one of its
	// connections while its loop runs; Listen opens a connection of its own
	// with the pool's settings.
	Pool *pgxpool.Pool
	// EventsTable holds the events, "name" or "schema.name": letters,
	// digits and underscores. The append function is named after it, with
	// "_append".
	EventsTable string
	// LogTable holds the global log (named the same way).
	LogTable string
	// SnapshotsTable holds the snapshots (named the same way).
	SnapshotsTable string
	// Channel is the NOTIFY channel of new events (letters, digits and
	// underscores). Channels are per database, not per schema: give each
	// event store in one database its own.
	Channel string
	// Clock stamps RecordedAt on events and snapshots. Nil uses
	// clock.System.
	Clock clock.Clock
}

// DefaultConfig returns a Config with the tables "bulwark_events",
// "bulwark_event_log" and "bulwark_snapshots" and the channel
// "bulwark_events". Set Pool before calling New.
func DefaultConfig() Config {
	return Config{
		EventsTable:    "bulwark_events",
		LogTable:       "bulwark_event_log",
		SnapshotsTable: "bulwark_snapshots",
		Channel:        "bulwark_events",
	}
}

// Store is an event store in PostgreSQL. It is safe for concurrent use by
// many goroutines and processes.
type Store struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	sql   statements
}

var (
	_ eventsource.Store         = (*Store)(nil)
	_ eventsource.Listener      = (*Store)(nil)
	_ eventsource.SnapshotStore = (*Store)(nil)
)

type statements struct {
	migrate, append, readStream, readAll, listen, saveSnapshot, loadSnapshot string
}

//go:embed schema.sql
var schemaSQL string

// New returns a Store, or an error naming the first invalid setting. It
// does not touch the database; call Migrate to create the tables.
func New(cfg Config) (*Store, error) {
	if cfg.Pool == nil {
		return nil, errors.New("pgeventsource: Config.Pool must be set")
	}
	for _, t := range []struct{ setting, name string }{
		{"pgeventsource: Config.EventsTable", cfg.EventsTable},
		{"pgeventsource: Config.LogTable", cfg.LogTable},
		{"pgeventsource: Config.SnapshotsTable", cfg.SnapshotsTable},
	} {
		if err := sqlident.Check(t.setting, t.name); err != nil {
			return nil, err
		}
	}
	appendFn := cfg.EventsTable + "_append"
	if err := sqlident.Check("pgeventsource: Config.EventsTable", appendFn); err != nil {
		return nil, fmt.Errorf("%w (the append function is named after it with _append)", err)
	}
	if err := sqlident.Check("pgeventsource: Config.Channel", cfg.Channel); err != nil || strings.Contains(cfg.Channel, ".") {
		return nil, fmt.Errorf("pgeventsource: Config.Channel must be letters, digits and underscores, got %q", cfg.Channel)
	}
	r := strings.NewReplacer(
		"{{events}}", sqlident.Quote(cfg.EventsTable),
		"{{log}}", sqlident.Quote(cfg.LogTable),
		"{{snapshots}}", sqlident.Quote(cfg.SnapshotsTable),
		"{{append}}", sqlident.Quote(appendFn),
		"{{channel}}", "'"+cfg.Channel+"'",
	)
	return &Store{pool: cfg.Pool, clock: clock.OrSystem(cfg.Clock), sql: statements{
		migrate: r.Replace(schemaSQL),
		append:  r.Replace(`SELECT status, version, last_position, duplicate FROM {{append}}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`),
		readStream: r.Replace(`SELECT e.stream_version, e.event_id, e.type, e.schema_version, e.data,
	e.correlation_id, e.causation_id, e.headers, e.recorded_at,
	l.position - l.first_version,
	(SELECT b.position - b.first_version FROM {{log}} b
	 WHERE b.stream_id = $1 AND b.first_version <= $2 ORDER BY b.first_version DESC LIMIT 1)
FROM {{events}} e
LEFT JOIN {{log}} l ON l.stream_id = e.stream_id AND l.first_version = e.stream_version
WHERE e.stream_id = $1 AND e.stream_version >= $2
ORDER BY e.stream_version`),
		// The appends holding positions from $1 to $1+$2-1: the one that
		// holds $1 (the last to start at or before it) and those starting
		// before $1+$2.
		readAll: r.Replace(`SELECT l.position + (e.stream_version - l.first_version) AS pos, e.stream_id, e.stream_version,
	e.event_id, e.type, e.schema_version, e.data, e.correlation_id, e.causation_id, e.headers, e.recorded_at
FROM {{log}} l
JOIN {{events}} e ON e.stream_id = l.stream_id
	AND e.stream_version >= l.first_version + greatest($1 - l.position, 0)
	AND e.stream_version < l.first_version + l.count
WHERE l.position >= (SELECT coalesce(max(b.position), 0) FROM {{log}} b WHERE b.position <= $1)
	AND l.position < $1 + $2
ORDER BY pos
LIMIT $2`),
		listen: `LISTEN ` + sqlident.Quote(cfg.Channel),
		saveSnapshot: r.Replace(`INSERT INTO {{snapshots}} AS s (stream_id, stream_version, event_id, schema_version, data, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (stream_id) DO UPDATE SET stream_version = excluded.stream_version, event_id = excluded.event_id,
	schema_version = excluded.schema_version, data = excluded.data, recorded_at = excluded.recorded_at
WHERE s.schema_version <> excluded.schema_version OR s.stream_version <= excluded.stream_version`),
		loadSnapshot: r.Replace(`SELECT stream_version, event_id, schema_version, data, recorded_at FROM {{snapshots}} WHERE stream_id = $1`),
	}}, nil
}

// migrateLock serializes concurrent Migrate calls (CREATE ... IF NOT EXISTS
// is not safe against itself).
const migrateLock = 0x6275_6c77 // "bulw"

// Migrate creates the tables and the append function if they do not exist
// (and replaces the function, so that it matches this version of the
// package). It is safe to run concurrently and repeatedly.
func (s *Store) Migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.sql.migrate)
		return err
	})
	if err != nil {
		return fmt.Errorf("pgeventsource: migrating: %w", err)
	}
	return nil
}
