// Package pgoutbox is the PostgreSQL store of the transactional outbox
// (package outbox), on pgx/v5.
//
// Enqueue writes messages in the caller's transaction, from pgx (pgx.Tx) or
// database/sql (*sql.Tx, with pgx's stdlib driver or any other). The relay
// claims messages with SELECT ... FOR UPDATE SKIP LOCKED inside an explicit
// transaction that lives until the batch's outcome is recorded: a relay
// that dies mid-batch holds nothing once PostgreSQL notices its connection
// closed, and one that hangs is cut off after the lease
// (idle_in_transaction_session_timeout).
//
// Commit order. Sequence values are handed out when rows are inserted, not
// when transactions commit, so a message with a lower seq can become visible
// after one with a higher seq. The relay never skips it: it claims by state
// (pending or not), never by "everything after the last seq I saw", so a
// late commit is claimed whenever it lands. Per key, Enqueue takes a
// transaction-scoped advisory lock on the key before inserting, so two
// transactions enqueueing for the same key commit in seq order: a key's
// messages are published in the order their transactions committed. (A
// transaction enqueueing for many keys takes one lock per key; PostgreSQL's
// max_locks_per_transaction bounds how many distinct keys one transaction
// can enqueue for.)
//
// Wake-up. Migrate installs a statement-level trigger that sends a
// NOTIFY on Config.Channel when messages are inserted; Listen waits for it
// on a connection of its own, so the relay publishes a commit at once and
// polls only as a fallback.
//
// Bytes. The payload is stored as BYTEA and the headers as JSONB written by
// outbox.EncodeHeaders (a value that is not valid UTF-8 or holds a NUL byte
// is kept in base64, which jsonb can hold), so every byte of the payload,
// key and header values comes back as enqueued. Enqueue refuses a topic,
// key or header name that is not text (outbox.ErrInvalidMessage) before
// writing anything.
//
// Migrations. Migrate creates and upgrades the schema by versioned,
// forward-only steps (see Migrations), each run once, in a transaction with
// its record in the table bulwark_migrations of Config.Table's schema,
// under an advisory lock, so every process may run it at start. A
// database made by a release before versioned migrations is adopted:
// Migrate keeps its tables and rows and brings it to the latest version.
// Migrations returns the steps' SQL for teams that run migrations with a
// tool of their own (goose, atlas); each step records itself, so a later
// Migrate does not run it again.
//
// Upkeep. Every message is inserted, then deleted (or, with a retention
// window, updated and later deleted), so the table churns like any queue
// table: leave autovacuum on for it. A long-running transaction anywhere on
// the server keeps deleted rows from being cleaned up, and claims then step
// over them.
package pgoutbox

import (
	"errors"

	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures a Store. The zero Config is the default: each empty
// field means the default its comment names.
type Config struct {
	// Table is the pending messages' table, "name" or "schema.name":
	// letters, digits and underscores; "" means "outbox_messages".
	Table string
	// DeadLetterTable is the dead letters' table, named the same way; ""
	// means "outbox_dead_letters".
	DeadLetterTable string
	// Channel is the NOTIFY channel that wakes relays (letters, digits and
	// underscores); "" means the Table's name without its schema.
	// Channels are per database, not per schema: give each outbox in one
	// database its own.
	Channel string
}

// DefaultConfig returns the defaults the zero Config stands for: the
// tables "outbox_messages" and "outbox_dead_letters" and the channel
// "outbox_messages".
func DefaultConfig() Config {
	return Config{Table: "outbox_messages", DeadLetterTable: "outbox_dead_letters", Channel: "outbox_messages"}
}

// Store is an outbox.Store in PostgreSQL. It is safe for concurrent use by
// many goroutines and processes. A Store made without New panics from every
// method.
type Store struct {
	pool    *pgxpool.Pool
	table   string // quoted
	channel string
	lockNS  string // Config.Table: the namespace of Enqueue's key locks
	sql     statements

	migrations []Migration
}

var (
	_ outbox.Store    = (*Store)(nil)
	_ outbox.Listener = (*Store)(nil)
)

type statements struct {
	claim, deletePublished, keepPublished, retry, bury               string
	stats, deadLetters, replayLock, replay, discard, cleanup, listen string
}

// New returns a Store in the database of pool, or an error naming a nil
// pool or the first invalid setting. Each claim in flight holds one of
// pool's connections until its batch is finished; Listen opens a
// connection of its own with pool's settings. New does not touch the
// database; call Migrate to create the tables.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgoutbox: New: pool must not be nil")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	cfg = sc.cfg
	r := sc.replacer(sc.names)
	return &Store{pool: pool, table: sqlident.Quote(cfg.Table), channel: cfg.Channel, lockNS: cfg.Table, migrations: sc.Migrations(), sql: statements{
		claim:           r.Replace(claimSQL),
		deletePublished: r.Replace(`DELETE FROM {{table}} WHERE ctid = ANY($1::tid[])`),
		keepPublished:   r.Replace(`UPDATE {{table}} SET published_at = $2 WHERE ctid = ANY($1::tid[])`),
		retry:           r.Replace(retrySQL),
		bury:            r.Replace(burySQL),
		stats: r.Replace(`SELECT
			(SELECT count(*) FROM {{table}} WHERE published_at IS NULL),
			(SELECT min(created_at) FROM {{table}} WHERE published_at IS NULL),
			(SELECT count(*) FROM {{dead_table}})`),
		deadLetters: r.Replace(`SELECT seq, id, topic, key, payload, headers, created_at, attempts, last_error, dead_at
			FROM {{dead_table}} WHERE seq > $1 AND ($2 = '' OR key = $2) ORDER BY seq LIMIT $3`),
		replayLock: r.Replace(`SELECT count(*) FROM (SELECT 1 FROM {{table}} t
			WHERE t.published_at IS NULL AND t.key IN (SELECT key FROM {{dead_table}} WHERE id = ANY($1::uuid[]))
			ORDER BY t.seq FOR UPDATE OF t) l`),
		replay: r.Replace(`WITH d AS (DELETE FROM {{dead_table}} WHERE id = ANY($1::uuid[]) RETURNING *)
			INSERT INTO {{table}} (seq, id, topic, key, payload, headers, created_at)
			SELECT seq, id, topic, key, payload, headers, created_at FROM d`),
		discard: r.Replace(`DELETE FROM {{dead_table}} WHERE id = ANY($1::uuid[])`),
		cleanup: r.Replace(`DELETE FROM {{table}} WHERE published_at < $1`),
		listen:  "LISTEN " + sqlident.Quote(cfg.Channel),
	}}, nil
}

// check panics on a Store not made by New.
func (s *Store) check() {
	if s == nil || s.pool == nil {
		panic("pgoutbox: Store used without New")
	}
}
