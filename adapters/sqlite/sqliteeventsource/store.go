// Package sqliteeventsource is the SQLite event store (package eventsource),
// on modernc.org/sqlite (pure Go): an eventsource.Store, Listener and
// SnapshotStore that passes the eventsourcetest conformance suite.
//
// Open the database with sqlite.Open (github.com/bulwark-go/bulwark/adapters/sqlite):
// its transactions take the write lock up front, so an append's checks and
// inserts are one atomic step among the goroutines and processes sharing
// the file, and appends commit one at a time. Each event's global position
// is its row number, given inside the write transaction: positions follow
// commit order, so a reader continuing after the last position it saw never
// misses an event that commits late.
//
// AppendTx appends in the caller's *sql.Tx, so events and, say, outbox
// messages commit together. Other writers wait for that transaction (up to
// sqlite.Open's busy timeout): keep it short.
//
// Listen announces the appends made through Append by this Store value.
// Appends by other processes, or through AppendTx, reach subscriptions at
// their next poll (SubscriptionConfig.PollInterval).
//
// Migrations. Migrate creates and upgrades the schema by versioned,
// forward-only steps (see Migrations), each run once, in a write
// transaction with its record in the table bulwark_migrations of the
// table's schema, so every process sharing the file may run it at start.
// A database made by a release before versioned migrations is adopted:
// Migrate keeps its tables and rows and brings it to the latest version.
// Migrations returns the steps' SQL for teams that run migrations with a
// tool of their own (goose, atlas); each step records itself, so a later
// Migrate does not run it again.
package sqliteeventsource

import (
	"database/sql"
	"errors"
	"strings"
	"sync"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Config configures a Store. The zero value is the default configuration
// (see DefaultConfig).
type Config struct {
	// EventsTable holds the events, "name" or "schema.name": letters,
	// digits and underscores. Empty means "bulwark_events".
	EventsTable string
	// SnapshotsTable holds the snapshots (named the same way). Empty
	// means "bulwark_snapshots".
	SnapshotsTable string
	// Clock stamps RecordedAt on events and snapshots. Nil uses
	// clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the configuration the zero Config stands for,
// spelled out: the tables "bulwark_events" and "bulwark_snapshots" and the
// system clock.
func DefaultConfig() Config {
	return Config{EventsTable: "bulwark_events", SnapshotsTable: "bulwark_snapshots", Clock: clock.System}
}

// Store is an event store in SQLite. It is safe for concurrent use by many
// goroutines and processes.
type Store struct {
	db    *sql.DB
	clock clock.Clock
	sql   statements

	mu        sync.Mutex
	listeners map[*func()]struct{}

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
	findEvent, streamIDs, streamVersion, lastPosition, insert,
	readStream, readAll, saveSnapshot, loadSnapshot string
	duplicates func(n int) string
}

const columns = `position, stream_id, stream_version, event_id, type, schema_version, data,
	correlation_id, causation_id, headers, recorded_at`

// New returns a Store in db (opened with sqlite.Open), or an error naming a
// nil db or the first invalid setting. It does not touch the database;
// call Migrate to create the tables.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqliteeventsource: New needs a database (db is nil)")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	cfg = sc.cfg
	r := strings.NewReplacer("{{events}}", sqlident.Quote(cfg.EventsTable), "{{snapshots}}", sqlident.Quote(cfg.SnapshotsTable), "{{columns}}", columns)
	return &Store{db: db, clock: clock.OrSystem(cfg.Clock), listeners: map[*func()]struct{}{}, table: cfg.EventsTable, migrations: sc.Migrations(), sql: statements{
		findEvent:     r.Replace(`SELECT stream_id, stream_version FROM {{events}} WHERE event_id = ?`),
		streamIDs:     r.Replace(`SELECT event_id, position FROM {{events}} WHERE stream_id = ? AND stream_version BETWEEN ? AND ? ORDER BY stream_version`),
		streamVersion: r.Replace(`SELECT coalesce(max(stream_version), 0) FROM {{events}} WHERE stream_id = ?`),
		lastPosition:  r.Replace(`SELECT coalesce(max(position), 0) FROM {{events}}`),
		insert:        r.Replace(`INSERT INTO {{events}} ({{columns}}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		readStream:    r.Replace(`SELECT {{columns}} FROM {{events}} WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version`),
		readAll:       r.Replace(`SELECT {{columns}} FROM {{events}} WHERE position >= ? ORDER BY position LIMIT ?`),
		saveSnapshot: r.Replace(`INSERT INTO {{snapshots}} AS s (stream_id, stream_version, event_id, schema_version, data, recorded_at)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (stream_id) DO UPDATE SET stream_version = excluded.stream_version, event_id = excluded.event_id,
	schema_version = excluded.schema_version, data = excluded.data, recorded_at = excluded.recorded_at
WHERE s.schema_version <> excluded.schema_version OR s.stream_version <= excluded.stream_version`),
		loadSnapshot: r.Replace(`SELECT stream_version, event_id, schema_version, data, recorded_at FROM {{snapshots}} WHERE stream_id = ?`),
		duplicates: func(n int) string {
			return r.Replace(`SELECT event_id FROM {{events}} WHERE event_id IN (?` + strings.Repeat(", ?", n-1) + `) LIMIT 1`)
		},
	}}, nil
}

// check panics on the zero Store.
func (s *Store) check() {
	if s.db == nil {
		panic("sqliteeventsource: Store used without New")
	}
}
