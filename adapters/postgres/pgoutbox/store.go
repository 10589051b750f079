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
// Upkeep. Every message is inserted, then deleted (or, with a retention
// window, updated and later deleted), so the table churns like any queue
// table: leave autovacuum on for it. A long-running transaction anywhere on
// the server keeps deleted rows from being cleaned up, and claims then step
// over them.
package pgoutbox

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
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
	lockNS  string // advisory lock namespace for Enqueue's key locks
	sql     statements
}

var (
	_ outbox.Store    = (*Store)(nil)
	_ outbox.Listener = (*Store)(nil)
)

type statements struct {
	migrate, claim, deletePublished, keepPublished, retry, bury      string
	stats, deadLetters, replayLock, replay, discard, cleanup, listen string
}

//go:embed migrate.sql
var migrateSQL string

// New returns a Store in the database of pool, or an error naming a nil
// pool or the first invalid setting. Each claim in flight holds one of
// pool's connections until its batch is finished; Listen opens a
// connection of its own with pool's settings. New does not touch the
// database; call Migrate to create the tables.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgoutbox: New: pool must not be nil")
	}
	def := DefaultConfig()
	if cfg.Table == "" {
		cfg.Table = def.Table
	}
	if cfg.DeadLetterTable == "" {
		cfg.DeadLetterTable = def.DeadLetterTable
	}
	if cfg.Channel == "" {
		cfg.Channel = cfg.Table[strings.LastIndex(cfg.Table, ".")+1:]
	}
	if err := sqlident.Check("pgoutbox: Config.Table", cfg.Table); err != nil {
		return nil, err
	}
	if err := sqlident.Check("pgoutbox: Config.DeadLetterTable", cfg.DeadLetterTable); err != nil {
		return nil, err
	}
	if cfg.DeadLetterTable == cfg.Table {
		return nil, fmt.Errorf("pgoutbox: Config.DeadLetterTable must differ from Table, both are %q", cfg.Table)
	}
	if err := sqlident.Check("pgoutbox: Config.Channel", cfg.Channel); err != nil || strings.Contains(cfg.Channel, ".") {
		return nil, fmt.Errorf("pgoutbox: Config.Channel must be letters, digits and underscores, got %q", cfg.Channel)
	}
	t, d := sqlident.Quote(cfg.Table), sqlident.Quote(cfg.DeadLetterTable)
	tname := cfg.Table[strings.LastIndex(cfg.Table, ".")+1:]
	dname := cfg.DeadLetterTable[strings.LastIndex(cfg.DeadLetterTable, ".")+1:]
	fn := tname + "_notify"
	if i := strings.LastIndex(cfg.Table, "."); i >= 0 {
		fn = cfg.Table[:i] + "." + fn
	}
	r := strings.NewReplacer(
		"{{table}}", t,
		"{{dead_table}}", d,
		"{{pending_index}}", sqlident.Quote(tname+"_pending"),
		"{{key_index}}", sqlident.Quote(tname+"_key"),
		"{{retry_index}}", sqlident.Quote(tname+"_retry"),
		"{{published_index}}", sqlident.Quote(tname+"_published"),
		"{{dead_key_index}}", sqlident.Quote(dname+"_key"),
		"{{dead_id_index}}", sqlident.Quote(dname+"_id"),
		"{{notify_function}}", sqlident.Quote(fn),
		"{{notify_trigger}}", sqlident.Quote(tname+"_notify"),
		"{{channel}}", cfg.Channel,
	)
	return &Store{pool: pool, table: t, channel: cfg.Channel, lockNS: cfg.Table, sql: statements{
		migrate:         r.Replace(migrateSQL),
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

// Migrate creates the tables, indexes and notify trigger if they do not
// exist. It is safe to run at every start, from several processes at once.
// MigrationSQL returns the same statements for a migration tool.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	if err := pgmigrate.Run(ctx, s.pool, lockKey("pgoutbox.migrate", ""), s.sql.migrate); err != nil {
		return fmt.Errorf("pgoutbox: migrating: %w", err)
	}
	return nil
}

// MigrationSQL returns the SQL that Migrate runs, with the configured names.
func (s *Store) MigrationSQL() string {
	s.check()
	return s.sql.migrate
}

// check panics on a Store not made by New.
func (s *Store) check() {
	if s == nil || s.pool == nil {
		panic("pgoutbox: Store used without New")
	}
}
