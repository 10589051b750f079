// Package sqliteidempotency keeps idempotency records in SQLite
// (modernc.org/sqlite, pure Go), for idempotency.Keeper, and offers a
// transactional Inbox that records a message as processed in the same
// transaction as its handler's writes.
//
//	db, err := sqlite.Open(ctx, "app.db")
//	store, err := sqliteidempotency.New(db, sqliteidempotency.Config{})
//	err = store.Migrate(ctx)
//	keeper, err := idempotency.New(store, idempotency.Config{})
//
// Open the database with sqlite.Open (github.com/bulwark-go/bulwark/adapters/sqlite):
// its transactions take the write lock up front, which makes each Claim's
// read and write one atomic step among processes sharing the file, so the
// Store passes idempotencytest's conformance suite: one winner per key,
// the winner's record for every loser, outcomes byte for byte, fencing by
// token. Times are kept as Unix milliseconds.
//
// The zero Config uses the table "idempotency_records"; the zero
// InboxConfig keeps message IDs for 7 days. Inbox reports
// idempotency.Duplicate events; the Store reports none (the Keeper does).
// Expired records stay in the table until deleted: run an
// idempotency.Cleaner over the Keeper (or over the Inbox).
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
package sqliteidempotency

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// DefaultTable is the table of the zero Config.
const DefaultTable = "idempotency_records"

// Config configures a Store. The zero Config is the default configuration.
type Config struct {
	// Table is the records' table, "name" or "schema.name" (an attached
	// database): letters, digits and underscores. "" means DefaultTable
	// ("idempotency_records").
	Table string
}

// DefaultConfig returns the defaults that Config{} stands for, spelled
// out: the table "idempotency_records".
func DefaultConfig() Config {
	return Config{Table: DefaultTable}
}

// Store is an idempotency.Store in an SQLite table. It is safe for
// concurrent use by many goroutines and processes.
type Store struct {
	db  *sql.DB
	sql statements

	table      string // Config.Table
	migrations []Migration
}

var _ idempotency.Store = (*Store)(nil)

type statements struct {
	get, insert, takeover, complete, release, checkpoint, deleteExpired, inboxInsert string
}

// New returns a Store in db (opened with sqlite.Open), or an error when db
// is nil or cfg.Table is not a valid name. It does not touch the database;
// call Migrate to create the table.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqliteidempotency: New needs a database, got nil")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{{table}}", sqlident.Quote(sc.Name()))
	return &Store{db: db, table: sc.Name(), migrations: sc.Migrations(), sql: statements{
		get: r.Replace(`SELECT fingerprint, completed, token, attempt, outcome, recovery_point, lease_until, expires_at
FROM {{table}} WHERE scope = ? AND key = ?`),
		insert: r.Replace(`INSERT OR REPLACE INTO {{table}}
(scope, key, fingerprint, completed, token, attempt, outcome, recovery_point, lease_until, expires_at)
VALUES (?, ?, ?, 0, ?, 1, NULL, NULL, ?, ?)`),
		takeover: r.Replace(`UPDATE {{table}} SET token = ?, attempt = attempt + 1, lease_until = ?, expires_at = ?
WHERE scope = ? AND key = ?`),
		complete: r.Replace(`UPDATE {{table}} SET completed = 1, outcome = ?, expires_at = ?
WHERE scope = ? AND key = ? AND token = ? AND completed = 0`),
		release: r.Replace(`DELETE FROM {{table}} WHERE scope = ? AND key = ? AND token = ? AND completed = 0`),
		checkpoint: r.Replace(`UPDATE {{table}} SET recovery_point = ?, lease_until = ?, expires_at = max(expires_at, ?)
WHERE scope = ? AND key = ? AND token = ? AND completed = 0`),
		deleteExpired: r.Replace(`DELETE FROM {{table}} WHERE (scope, key) IN (
	SELECT scope, key FROM {{table}} WHERE expires_at <= ? LIMIT ?)`),
		inboxInsert: r.Replace(`INSERT INTO {{table}} AS r
(scope, key, fingerprint, completed, token, attempt, outcome, recovery_point, lease_until, expires_at)
VALUES (?, ?, x'', 1, 0, 1, NULL, NULL, ?, ?)
ON CONFLICT (scope, key) DO UPDATE SET
	fingerprint = x'', completed = 1, token = 0, attempt = 1, outcome = NULL, recovery_point = NULL,
	lease_until = excluded.lease_until, expires_at = excluded.expires_at
WHERE r.expires_at <= excluded.lease_until`),
	}}, nil
}

// check panics when s was not made by New.
func (s *Store) check() {
	if s == nil || s.db == nil {
		panic("sqliteidempotency: Store used without New")
	}
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func orEmpty(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Claim implements idempotency.Store: a read and at most one write in one
// write-locked transaction.
func (s *Store) Claim(ctx context.Context, c idempotency.Claim) (rec idempotency.Record, err error) {
	s.check()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return rec, fmt.Errorf("sqliteidempotency: claim: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	scope, key := []byte(c.Scope), []byte(c.Key)
	var completed bool
	var lease, expires int64
	err = tx.QueryRowContext(ctx, s.sql.get, scope, key).Scan(&rec.Fingerprint, &completed, &rec.Token, &rec.Attempt,
		&rec.Outcome, &rec.RecoveryPoint, &lease, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && expires <= ms(c.Now)):
		rec = idempotency.Record{Fingerprint: c.Fingerprint, Attempt: 1}
		_, err = tx.ExecContext(ctx, s.sql.insert, scope, key, orEmpty(c.Fingerprint), c.Token, ms(c.LeaseUntil), ms(c.ExpiresAt))
	case err != nil:
	case !completed && lease <= ms(c.Now) && bytes.Equal(rec.Fingerprint, c.Fingerprint):
		rec.Attempt++
		_, err = tx.ExecContext(ctx, s.sql.takeover, c.Token, ms(c.LeaseUntil), ms(c.ExpiresAt), scope, key)
	default:
		rec.State = idempotency.InProgress
		if completed {
			rec.State = idempotency.Completed
		}
		rec.LeaseUntil, rec.ExpiresAt = time.UnixMilli(lease), time.UnixMilli(expires)
		return rec, tx.Rollback()
	}
	if err != nil {
		return idempotency.Record{}, fmt.Errorf("sqliteidempotency: claim: %w", err)
	}
	if err = tx.Commit(); err != nil {
		return idempotency.Record{}, fmt.Errorf("sqliteidempotency: claim: %w", err)
	}
	rec.State, rec.Token, rec.LeaseUntil, rec.ExpiresAt = idempotency.Claimed, c.Token, c.LeaseUntil, c.ExpiresAt
	return rec, nil
}

func (s *Store) fenced(ctx context.Context, op, query string, args ...any) error {
	s.check()
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqliteidempotency: %s: %w", op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqliteidempotency: %s: %w", op, err)
	} else if n == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, ref idempotency.Ref, token int64, outcome []byte, expiresAt time.Time) error {
	return s.fenced(ctx, "complete", s.sql.complete, orEmpty(outcome), ms(expiresAt), []byte(ref.Scope), []byte(ref.Key), token)
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, ref idempotency.Ref, token int64) error {
	return s.fenced(ctx, "release", s.sql.release, []byte(ref.Scope), []byte(ref.Key), token)
}

// Checkpoint implements idempotency.Store.
func (s *Store) Checkpoint(ctx context.Context, ref idempotency.Ref, token int64, point []byte, leaseUntil time.Time) error {
	return s.fenced(ctx, "checkpoint", s.sql.checkpoint, orEmpty(point), ms(leaseUntil), ms(leaseUntil), []byte(ref.Scope), []byte(ref.Key), token)
}

// DeleteExpired implements idempotency.Store.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.check()
	res, err := s.db.ExecContext(ctx, s.sql.deleteExpired, ms(now), limit)
	if err != nil {
		return 0, fmt.Errorf("sqliteidempotency: deleting expired records: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqliteidempotency: deleting expired records: %w", err)
	}
	return int(n), nil
}
