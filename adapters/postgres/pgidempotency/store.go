// Package pgidempotency keeps idempotency records in PostgreSQL (pgx/v5),
// for idempotency.Keeper, and offers a transactional Inbox that records a
// message as processed in the same transaction as its handler's writes.
//
//	store, err := pgidempotency.New(pool, pgidempotency.Config{})
//	err = store.Migrate(ctx)
//	keeper, err := idempotency.New(store, idempotency.Config{})
//
// The Store passes idempotencytest's conformance suite: one winner per
// key however many processes claim it, the winner's record (never a
// replaced one) for every loser, outcomes byte for byte, fencing by token.
// Scopes and keys are stored as BYTEA, so any string works as either. The
// zero Config uses the table "idempotency_records"; the zero InboxConfig
// keeps message IDs for 7 days. Inbox reports idempotency.Duplicate events;
// the Store reports none (the Keeper does).
//
// A Claim is one statement (one round trip): a read of the record, and,
// only when the record is missing, expired or abandoned, an INSERT ... ON
// CONFLICT DO UPDATE that claims it. A replay therefore reads without
// locking or writing, so replays of one key do not queue behind each other.
// When claims of one key race, the losers' statements see the winner's row
// only after it commits, and their read may still show the record as it was
// before: a Claim that gets back a record it should have won (expired, or
// abandoned with its fingerprint) runs the statement again, and so always
// returns the winner's record, never the one it replaced. Complete, Release
// and Checkpoint are one UPDATE or DELETE each, fenced by the holder's
// token. So a request with a new key costs two round trips and a replay one.
//
// Expired records stay in the table until deleted: run an
// idempotency.Cleaner over the Keeper (or over the Inbox).
//
// Migrations. Migrate creates and upgrades the table by versioned,
// forward-only steps (see Migrations), each run once, in a transaction with
// its record in the table bulwark_migrations of Config.Table's schema,
// under an advisory lock, so every process may run it at start. A
// database made by a release before versioned migrations is adopted:
// Migrate keeps its records and brings it to the latest version.
// Migrations returns the steps' SQL for teams that run migrations with a
// tool of their own (goose, atlas); each step records itself, so a later
// Migrate does not run it again.
package pgidempotency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the store needs of a connection: *pgxpool.Pool and *pgx.Conn
// have it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

// DefaultTable is the table of the zero Config.
const DefaultTable = "idempotency_records"

// Config configures a Store. The zero Config is the default configuration.
type Config struct {
	// Table is the records' table, "name" or "schema.name": letters,
	// digits and underscores. "" means DefaultTable
	// ("idempotency_records").
	Table string
}

// DefaultConfig returns the defaults that Config{} stands for, spelled
// out: the table "idempotency_records".
func DefaultConfig() Config {
	return Config{Table: DefaultTable}
}

// Store is an idempotency.Store in a PostgreSQL table. It is safe for
// concurrent use by many goroutines and processes.
type Store struct {
	db  DB
	sql statements

	table      string // Config.Table
	migrations []Migration
}

var _ idempotency.Store = (*Store)(nil)

type statements struct {
	claim, complete, release, checkpoint, deleteExpired, inboxInsert string
}

// New returns a Store in db (a *pgxpool.Pool, say), or an error when db is
// nil or cfg.Table is not a valid name. It does not touch the database;
// call Migrate to create the table.
func New(db DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("pgidempotency: New needs a database, got nil")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{{table}}", sqlident.Quote(sc.Name()))
	return &Store{db: db, table: sc.Name(), migrations: sc.Migrations(), sql: statements{
		claim: r.Replace(`WITH existing AS (
	SELECT fingerprint, completed, token, attempt, outcome, recovery_point, lease_until, expires_at
	FROM {{table}} WHERE scope = $1 AND key = $2
), claimed AS (
	INSERT INTO {{table}} AS r (scope, key, fingerprint, completed, token, attempt, lease_until, expires_at)
	SELECT $1, $2, $3, false, $4, 1, $6, $7
	WHERE NOT EXISTS (
		SELECT FROM existing e
		WHERE e.expires_at > $5 AND (e.completed OR e.lease_until > $5 OR e.fingerprint <> $3)
	)
	ON CONFLICT (scope, key) DO UPDATE SET
		fingerprint = EXCLUDED.fingerprint,
		completed = false,
		token = EXCLUDED.token,
		attempt = CASE WHEN r.expires_at <= $5 THEN 1 ELSE r.attempt + 1 END,
		outcome = NULL,
		recovery_point = CASE WHEN r.expires_at <= $5 THEN NULL ELSE r.recovery_point END,
		lease_until = EXCLUDED.lease_until,
		expires_at = EXCLUDED.expires_at
	WHERE r.expires_at <= $5
		OR (NOT r.completed AND r.lease_until <= $5 AND r.fingerprint = EXCLUDED.fingerprint)
	RETURNING true AS claimed, r.fingerprint, r.completed, r.token, r.attempt, r.outcome, r.recovery_point, r.lease_until, r.expires_at
)
SELECT * FROM claimed
UNION ALL
SELECT false, * FROM existing WHERE NOT EXISTS (SELECT FROM claimed)`),
		complete: r.Replace(`UPDATE {{table}} SET completed = true, outcome = $4, expires_at = $5
WHERE scope = $1 AND key = $2 AND token = $3 AND NOT completed`),
		release: r.Replace(`DELETE FROM {{table}} WHERE scope = $1 AND key = $2 AND token = $3 AND NOT completed`),
		checkpoint: r.Replace(`UPDATE {{table}} SET recovery_point = $4, lease_until = $5, expires_at = GREATEST(expires_at, $5)
WHERE scope = $1 AND key = $2 AND token = $3 AND NOT completed`),
		deleteExpired: r.Replace(`DELETE FROM {{table}} WHERE (scope, key) IN (
	SELECT scope, key FROM {{table}} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED
) AND expires_at <= $1`),
		inboxInsert: r.Replace(`INSERT INTO {{table}} AS r (scope, key, fingerprint, completed, token, attempt, lease_until, expires_at)
VALUES ($1, $2, '', true, 0, 1, $3, $4)
ON CONFLICT (scope, key) DO UPDATE SET
	fingerprint = '', completed = true, token = 0, attempt = 1, outcome = NULL, recovery_point = NULL,
	lease_until = EXCLUDED.lease_until, expires_at = EXCLUDED.expires_at
WHERE r.expires_at <= $3`),
	}}, nil
}

// check panics when s was not made by New.
func (s *Store) check() {
	if s == nil || s.db == nil {
		panic("pgidempotency: Store used without New")
	}
}

// claimRetries bounds the re-runs of a Claim that raced with a concurrent
// claim committed after its snapshot (it then sees neither its own row nor
// the other's, or the record as it was before the other claim). One re-run
// almost always suffices.
const claimRetries = 10

// Claim implements idempotency.Store.
func (s *Store) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	s.check()
	fp := c.Fingerprint
	if fp == nil {
		fp = []byte{}
	}
	for range claimRetries {
		rows, err := s.db.Query(ctx, s.sql.claim, []byte(c.Scope), []byte(c.Key), fp, c.Token, c.Now, c.LeaseUntil, c.ExpiresAt)
		if err != nil {
			return idempotency.Record{}, fmt.Errorf("pgidempotency: claim: %w", err)
		}
		var (
			rec                idempotency.Record
			claimed, completed bool
			found              bool
		)
		for rows.Next() {
			found = true
			if err := rows.Scan(&claimed, &rec.Fingerprint, &completed, &rec.Token, &rec.Attempt,
				&rec.Outcome, &rec.RecoveryPoint, &rec.LeaseUntil, &rec.ExpiresAt); err != nil {
				rows.Close()
				return idempotency.Record{}, fmt.Errorf("pgidempotency: claim: %w", err)
			}
		}
		if err := rows.Err(); err != nil {
			return idempotency.Record{}, fmt.Errorf("pgidempotency: claim: %w", err)
		}
		if !found || (!claimed && claimable(c, completed, rec)) {
			continue // answered from a snapshot older than a concurrent claim: look again
		}
		switch {
		case claimed:
			rec.State = idempotency.Claimed
		case completed:
			rec.State = idempotency.Completed
		default:
			rec.State = idempotency.InProgress
		}
		return rec, nil
	}
	return idempotency.Record{}, fmt.Errorf("pgidempotency: claim of key %q kept racing with concurrent claims", c.Key)
}

// claimable reports whether c should have claimed the record rec (expired,
// or in progress with its lease over and c's fingerprint). The claim
// statement returns such a record, unclaimed, only when a concurrent claim
// took it first: its INSERT ... ON CONFLICT then sees the winner's row and
// leaves it, but its fallback read comes from the snapshot the statement
// began with, which shows the record as it was before the winner. That
// record is over (an old outcome and fingerprint, or a dead holder's
// token), so Claim runs the statement again, whose new snapshot holds the
// winner's row.
func claimable(c idempotency.Claim, completed bool, rec idempotency.Record) bool {
	if !rec.ExpiresAt.After(c.Now) {
		return true
	}
	return !completed && !rec.LeaseUntil.After(c.Now) && bytes.Equal(rec.Fingerprint, c.Fingerprint)
}

func (s *Store) fenced(ctx context.Context, op, sql string, args ...any) error {
	s.check()
	tag, err := s.db.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("pgidempotency: %s: %w", op, err)
	}
	if tag.RowsAffected() == 0 {
		return idempotency.ErrLeaseLost
	}
	return nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, ref idempotency.Ref, token int64, outcome []byte, expiresAt time.Time) error {
	if outcome == nil {
		outcome = []byte{}
	}
	return s.fenced(ctx, "complete", s.sql.complete, []byte(ref.Scope), []byte(ref.Key), token, outcome, expiresAt)
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, ref idempotency.Ref, token int64) error {
	return s.fenced(ctx, "release", s.sql.release, []byte(ref.Scope), []byte(ref.Key), token)
}

// Checkpoint implements idempotency.Store.
func (s *Store) Checkpoint(ctx context.Context, ref idempotency.Ref, token int64, point []byte, leaseUntil time.Time) error {
	if point == nil {
		point = []byte{}
	}
	return s.fenced(ctx, "checkpoint", s.sql.checkpoint, []byte(ref.Scope), []byte(ref.Key), token, point, leaseUntil)
}

// DeleteExpired implements idempotency.Store. Rows locked by concurrent
// work are skipped, left for the next run.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.check()
	tag, err := s.db.Exec(ctx, s.sql.deleteExpired, now, limit)
	if err != nil {
		return 0, fmt.Errorf("pgidempotency: deleting expired records: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
