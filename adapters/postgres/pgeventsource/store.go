// Package pgeventsource is the PostgreSQL event store (package eventsource),
// on pgx/v5: an eventsource.Store, Listener and SnapshotStore that passes
// the eventsourcetest conformance suite.
//
// Tables. Events live in one table, numbered by their global position (a
// sequence) and found by stream and version. Snapshots have a table of
// their own. Migrate creates both, the sequence and the PL/pgSQL functions
// that append in one round trip.
//
// Concurrency. Appends to one stream take turns on the stream's advisory
// lock, so the expected-version check and the insert see the same stream.
// Appends to different streams run and commit in parallel, so PostgreSQL
// flushes their commits together, as it would plain inserts.
//
// Gap safety. Positions are handed out when an append inserts, not when it
// commits, so a position can become visible after greater ones (the trap
// behind skipped events in event stores built on sequences). Each append
// marks the first of its positions with an advisory lock, held until its
// transaction ends and taken in the same short window that hands out the
// positions; the window holds a lock on the sequence's key, shared for a
// single-event append (so that those never wait for each other) and
// exclusive for several events. ReadAll, finding positions missing below
// committed ones, probes those marks; for a free mark it first waits out
// the windows open at that moment (taking the sequence's key exclusively),
// so that a free mark means an append that has ended. It returns only
// events below the first append still in flight, and treats a missing
// position whose append has ended as rolled back only after reading again.
// So a reader that continues after the last position it got never passes
// an event that commits late; a long open transaction that appended holds
// readers back (not writers) until it ends. Rolled-back appends leave
// their positions unused.
//
// Append of one event at a known version (the common case) takes the same
// locks in the same order in a single INSERT statement, since a PL/pgSQL
// call costs about a third more server time than the insert it wraps, and
// runs the append function only when that statement stores nothing (a
// conflict, a repeat, a race lost to another append), to tell which. The
// statement releases the window itself; if it fails while holding it
// (cancelled while it waits for its mark, say), Append releases it on the
// same connection, or closes the connection, which releases it too.
//
// Transactions. AppendTx appends in the caller's pgx transaction, so events
// and, say, outbox messages (adapters/postgres/pgoutbox) commit together.
// Appends need READ COMMITTED isolation (PostgreSQL's default). A version
// conflict leaves the transaction usable; a duplicate event ID (refused by
// the unique index, not by a check that would cost every append a lookup
// per event) aborts it. Two
// transactions that append to the same streams in opposite orders can
// deadlock; PostgreSQL then aborts one (retry it).
//
// Notifications. Listen waits on Config.Channel, on a connection of its
// own, and is woken at once by the commits of the same Store's Append.
// Other processes learn of Append's commits from a separate, asynchronously
// committed NOTIFY that a short-lived goroutine sends for any number of
// appends at once, at most one every 2ms (a NOTIFY inside the append would
// make PostgreSQL flush notifying commits one at a time, and one per append
// would cost as much as the appends); AppendTx sends its NOTIFY inside the
// caller's transaction, delivered when it commits.
//
// Migrations. Migrate creates and upgrades the schema by versioned,
// forward-only steps (see Migrations), each run once, in a transaction with
// its record in the table bulwark_migrations of Config.EventsTable's
// schema, under an advisory lock, so every process may run it at start. A
// database made by a release before versioned migrations is adopted:
// Migrate keeps its events and snapshots and replaces that release's
// functions with this one's. Migrations returns the steps' SQL for teams
// that run migrations with a tool of their own (goose, atlas); each step
// records itself, so a later Migrate does not run it again.
package pgeventsource

import (
	"errors"
	"strings"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Store. The zero value is the default configuration
// (see DefaultConfig).
type Config struct {
	// EventsTable holds the events, "name" or "schema.name": letters,
	// digits and underscores, at most 63 bytes a part. The position
	// sequence and the functions are named after it, with "_position",
	// "_append", "_inflight" and "_probe" (a longer name is cut short and
	// given a hash, so that they fit in 63 bytes). Empty means
	// "bulwark_events".
	EventsTable string
	// SnapshotsTable holds the snapshots (named the same way). Empty
	// means "bulwark_snapshots".
	SnapshotsTable string
	// Channel is the NOTIFY channel of new events (letters, digits and
	// underscores). Channels are per database, not per schema: give each
	// event store in one database its own. Empty means "bulwark_events".
	Channel string
	// Clock stamps RecordedAt on events and snapshots. Nil uses
	// clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the configuration the zero Config stands for,
// spelled out: the tables "bulwark_events" and "bulwark_snapshots", the
// channel "bulwark_events" and the system clock.
func DefaultConfig() Config {
	return Config{
		EventsTable:    "bulwark_events",
		SnapshotsTable: "bulwark_snapshots",
		Channel:        "bulwark_events",
		Clock:          clock.System,
	}
}

// Store is an event store in PostgreSQL. It is safe for concurrent use by
// many goroutines and processes.
type Store struct {
	pool      *pgxpool.Pool
	clock     clock.Clock
	channel   string
	sql       statements
	announcer announcer

	table      string // Config.EventsTable
	migrations []Migration
}

var (
	_ eventsource.Store         = (*Store)(nil)
	_ eventsource.Listener      = (*Store)(nil)
	_ eventsource.SnapshotStore = (*Store)(nil)
	_ eventsource.HeadReader    = (*Store)(nil)
)

type statements struct {
	append, appendOne, releaseWindow, notify, probe, readStream, readAll, readRange, head, listen, saveSnapshot, loadSnapshot string
}

// New returns a Store in the database of pool, or an error naming a nil
// pool or the first invalid setting. ReadStream holds one of the pool's
// connections while its loop runs; Listen opens a connection of its own
// with the pool's settings. New does not touch the database; call Migrate
// to create the tables.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgeventsource: New needs a pool (pool is nil)")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	cfg = sc.cfg
	const columns = `position, stream_id, stream_version, event_id, type, schema_version, data, correlation_id, causation_id, headers, recorded_at`
	r := strings.NewReplacer(
		"{{events}}", sqlident.Quote(cfg.EventsTable),
		"{{snapshots}}", sqlident.Quote(cfg.SnapshotsTable),
		"{{append}}", sqlident.Quote(sc.qualified(sc.append)),
		"{{probe}}", sqlident.Quote(sc.qualified(sc.probe)),
		"{{columns}}", columns,
	)
	appendOne, releaseWindow := sc.appendOne(columns)
	return &Store{pool: pool, clock: clock.OrSystem(cfg.Clock), channel: cfg.Channel, table: cfg.EventsTable, migrations: sc.Migrations(), sql: statements{
		append:        r.Replace(`SELECT status, version, last_position FROM {{append}}($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`),
		appendOne:     appendOne,
		releaseWindow: releaseWindow,
		// Committed asynchronously: it carries nothing to lose, and
		// PostgreSQL serializes notifying commits while it holds them.
		notify:     `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')`,
		probe:      r.Replace(`SELECT {{probe}}($1)`),
		readStream: r.Replace(`SELECT {{columns}} FROM {{events}} WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version`),
		readAll:    r.Replace(`SELECT {{columns}} FROM {{events}} WHERE position >= $1 ORDER BY position LIMIT $2`),
		readRange:  r.Replace(`SELECT {{columns}} FROM {{events}} WHERE position >= $1 AND position < $2 ORDER BY position`),
		head:       r.Replace(`SELECT coalesce(max(position), 0) FROM {{events}}`),
		listen:     `LISTEN ` + sqlident.Quote(cfg.Channel),
		saveSnapshot: r.Replace(`INSERT INTO {{snapshots}} AS s (stream_id, stream_version, event_id, schema_version, data, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (stream_id) DO UPDATE SET stream_version = excluded.stream_version, event_id = excluded.event_id,
	schema_version = excluded.schema_version, data = excluded.data, recorded_at = excluded.recorded_at
WHERE s.schema_version <> excluded.schema_version OR s.stream_version <= excluded.stream_version`),
		loadSnapshot: r.Replace(`SELECT stream_version, event_id, schema_version, data, recorded_at FROM {{snapshots}} WHERE stream_id = $1`),
	}}, nil
}

// check panics on the zero Store.
func (s *Store) check() {
	if s.pool == nil {
		panic("pgeventsource: Store used without New")
	}
}
