// Package sqliteidempotency keeps idempotency records in SQLite
// (modernc.org/sqlite, pure Go), for idempotency.Keeper, and offers a
// transactional Inbox that records a message as processed in the same
// transaction as its handler's writes.
//
// Open the database with sqlite.Open (github.com/bulwark-go/bulwark/adapters/sqlite):
// its transactions take the write lock up front, which makes each Claim's
// read and write one atomic step among processes sharing the file.
package sqliteidempotency

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Config configures a Store.
type Config struct {
	// DB is the database, opened with sqlite.Open. Required.
	DB *sql.DB
	// Table is the records' table, "name" or "schema.name": letters,
	// digits and underscores.
	Table string
}

// DefaultConfig returns a Config with the table "idempotency_records". Set
// DB before calling New.
func DefaultConfig() Config {
	return Config{Table: "idempotency_records"}
}

// Store is an idempotency.Store in an SQLite table. It is safe for
// concurrent use by many goroutines and processes.
type Store struct {
	db  *sql.DB
	sql statements
}

var _ idempotency.Store = (*Store)(nil)

type statements struct {
	migrate, get, insert, takeover, complete, release, checkpoint, deleteExpired, inboxInsert string
}

//go:embed migrate.sql
var migrateSQL string

// New returns a Store, or an error naming the first invalid setting. It
// does not touch the database; call Migrate to create the table.
func New(cfg Config) (*Store, error) {
	if cfg.DB == nil {
		return nil, errors.New("sqliteidempotency: Config.DB must be set")
	}
	if err := sqlident.Check("sqliteidempotency: Config.Table", cfg.Table); err != nil {
		return nil, err
	}
	// SQLite qualifies the index's name, not its table: CREATE INDEX
	// "app"."t_expires_at" ON "t".
	unqualified := cfg.Table[strings.LastIndex(cfg.Table, ".")+1:]
	r := strings.NewReplacer("{{table}}", sqlident.Quote(cfg.Table), "{{index}}", sqlident.Quote(cfg.Table+"_expires_at"),
		"{{unqualified}}", sqlident.Quote(unqualified))
	return &Store{db: cfg.DB, sql: statements{
		migrate: r.Replace(migrateSQL),
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

// Migrate creates the table and its index if they do not exist.
func (s *Store) Migrate(ctx context.Context) error {
	if err := sqlitemigrate.Run(ctx, s.db, s.sql.migrate); err != nil {
		return fmt.Errorf("sqliteidempotency: migrating: %w", err)
	}
	return nil
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
