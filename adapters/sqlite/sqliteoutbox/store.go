// Package sqliteoutbox is the SQLite store of the transactional outbox
// (package outbox), on modernc.org/sqlite (pure Go) through
// adapters/sqlite.Open: the embedded default for examples, tests and
// single-machine services.
//
// Enqueue writes messages in the caller's *sql.Tx. SQLite has one writer
// at a time, so messages commit in the order of their sequence numbers and a
// key's messages are published in commit order.
//
// A claim holds a key by leasing the key's oldest pending message for
// ClaimRequest.Lease, in a short write transaction; the relay then publishes
// without holding any database lock, and records the outcome in a second
// transaction. A relay that dies holds its keys until the lease runs out.
// SQLite has no notifications: relays find new messages by polling
// (outbox.Config.PollInterval).
//
// The payload is stored as a BLOB and the headers as JSON text written by
// outbox.EncodeHeaders, so every byte of the payload, key and header
// values comes back as enqueued; Enqueue refuses a topic, key or header
// name that is not text (outbox.ErrInvalidMessage) before writing
// anything.
//
// Migrations. Migrate creates and upgrades the schema by versioned,
// forward-only steps (see Migrations), each run once, in a write
// transaction with its record in the table bulwark_migrations, so every
// process sharing the file may run it at start. A database made by a
// release before versioned migrations is adopted: Migrate keeps its
// tables and rows and brings it to the latest version. Migrations returns
// the steps' SQL for teams that run migrations with a tool of their own
// (goose, atlas); each step records itself, so a later Migrate does not
// run it again.
package sqliteoutbox

import (
	"database/sql"
	"errors"
	"sync"

	"github.com/bulwark-go/bulwark/outbox"
)

// Config configures a Store. The zero Config is the default: each empty
// field means the default its comment names.
type Config struct {
	// Table is the pending messages' table: letters, digits and
	// underscores; "" means "outbox_messages".
	Table string
	// DeadLetterTable is the dead letters' table, named the same way; ""
	// means "outbox_dead_letters".
	DeadLetterTable string
}

// DefaultConfig returns the defaults the zero Config stands for: the
// tables "outbox_messages" and "outbox_dead_letters".
func DefaultConfig() Config {
	return Config{Table: "outbox_messages", DeadLetterTable: "outbox_dead_letters"}
}

// Store is an outbox.Store in SQLite. It is safe for concurrent use by many
// goroutines, and by several processes sharing the database file. A Store
// made without New panics from every method.
type Store struct {
	db  *sql.DB
	sql statements
	// writes serializes the relay's write transactions (Claim, Finish,
	// Release) in this process: concurrent claimers then queue on it in
	// turn, where SQLite's busy handler, which sleeps and tries again,
	// could starve one of them past busy_timeout.
	writes sync.Mutex

	table      string // Config.Table
	migrations []Migration
}

var _ outbox.Store = (*Store)(nil)

type statements struct {
	insertPrefix, scan, held, lease, owned, release, deletePublished, keepPublished string
	retry, bury, unbury, stats, deadLetters, replay, discard, cleanup               string
}

// New returns a Store in db, opened with adapters/sqlite.Open (WAL, busy
// timeout, BEGIN IMMEDIATE), or an error naming a nil db or the first
// invalid setting. It does not touch the database; call Migrate to create
// the tables.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqliteoutbox: New: db must not be nil")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	r := sc.replacer()
	return &Store{db: db, table: sc.cfg.Table, migrations: sc.Migrations(), sql: statements{
		insertPrefix: r.Replace(`INSERT INTO {{table}} (id, topic, key, payload, headers, created_at) VALUES `),
		// ?1 limit, ?2 now, ?3 skip dead letters.
		scan: r.Replace(`SELECT o.seq, o.id, o.topic, o.key, o.payload, o.headers, o.created_at, o.attempts, o.claimed_until
			FROM {{table}} o
			WHERE o.published_at IS NULL
			  AND NOT EXISTS (SELECT 1 FROM {{table}} r
			                  WHERE r.published_at IS NULL AND r.retry_at IS NOT NULL
			                    AND r.key = o.key AND r.retry_at > ?2)
			  AND (?3 OR NOT EXISTS (SELECT 1 FROM {{dead_table}} d WHERE d.key = o.key AND d.seq < o.seq))
			ORDER BY o.seq LIMIT ?1`),
		// ?1 now, ?2 JSON array of keys.
		held: r.Replace(`SELECT DISTINCT key FROM {{table}}
			WHERE published_at IS NULL AND claimed_until > ?1 AND key IN (SELECT value FROM json_each(?2))`),
		lease:           r.Replace(`UPDATE {{table}} SET claim_token = ?1, claimed_until = ?2 WHERE seq IN (SELECT value FROM json_each(?3))`),
		owned:           r.Replace(`SELECT count(*) FROM {{table}} WHERE claim_token = ?1 AND seq IN (SELECT value FROM json_each(?2))`),
		release:         r.Replace(`UPDATE {{table}} SET claim_token = NULL, claimed_until = NULL WHERE claim_token = ?1`),
		deletePublished: r.Replace(`DELETE FROM {{table}} WHERE seq IN (SELECT value FROM json_each(?1))`),
		keepPublished:   r.Replace(`UPDATE {{table}} SET published_at = ?2, claim_token = NULL, claimed_until = NULL WHERE seq IN (SELECT value FROM json_each(?1))`),
		retry:           r.Replace(`UPDATE {{table}} SET attempts = attempts + 1, retry_at = ?2, last_error = ?3 WHERE seq = ?1`),
		bury: r.Replace(`INSERT INTO {{dead_table}} (seq, id, topic, key, payload, headers, created_at, attempts, last_error, dead_at)
			SELECT seq, id, topic, key, payload, headers, created_at, attempts + 1, ?2, ?3 FROM {{table}} WHERE seq = ?1`),
		unbury: r.Replace(`DELETE FROM {{table}} WHERE seq = ?1`),
		stats: r.Replace(`SELECT
			(SELECT count(*) FROM {{table}} WHERE published_at IS NULL),
			(SELECT min(created_at) FROM {{table}} WHERE published_at IS NULL),
			(SELECT count(*) FROM {{dead_table}})`),
		deadLetters: r.Replace(`SELECT seq, id, topic, key, payload, headers, created_at, attempts, last_error, dead_at
			FROM {{dead_table}} WHERE seq > ?1 AND (?2 = '' OR key = ?2) ORDER BY seq LIMIT ?3`),
		replay: r.Replace(`INSERT INTO {{table}} (seq, id, topic, key, payload, headers, created_at)
			SELECT seq, id, topic, key, payload, headers, created_at FROM {{dead_table}} WHERE id IN (SELECT value FROM json_each(?1))`),
		discard: r.Replace(`DELETE FROM {{dead_table}} WHERE id IN (SELECT value FROM json_each(?1))`),
		cleanup: r.Replace(`DELETE FROM {{table}} WHERE published_at IS NOT NULL AND published_at < ?1`),
	}}, nil
}

// check panics on a Store not made by New.
func (s *Store) check() {
	if s == nil || s.db == nil {
		panic("sqliteoutbox: Store used without New")
	}
}
