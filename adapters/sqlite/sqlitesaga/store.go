// Package sqlitesaga keeps saga logs in SQLite (modernc.org/sqlite, pure
// Go), for saga.Orchestrator: sagas that survive restarts on one machine,
// driven by one or more processes sharing the database file.
//
// Open the database with sqlite.Open (github.com/bulwark-go/bulwark/adapters/sqlite):
// WAL mode and a busy timeout let several processes share the file, and
// its transactions take the write lock up front, which makes each Claim one
// atomic step among them.
//
// Each saga is one row; every transition is one statement (an INSERT, then
// UPDATEs fenced by the row's version), and nothing is read on the happy
// path.
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
package sqlitesaga

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/saga"
)

// Config configures a Store. The zero Config is the default: the table
// "sagas".
type Config struct {
	// Table is the sagas' table, "name" or "schema.name": letters, digits
	// and underscores. Empty means "sagas".
	Table string
}

// DefaultConfig returns the defaults the zero Config stands for, spelled
// out: the table "sagas".
func DefaultConfig() Config {
	return Config{Table: "sagas"}
}

// Store is a saga.Store in an SQLite table. It is safe for concurrent use
// by many goroutines and processes.
type Store struct {
	db  *sql.DB
	sql statements

	table      string // Config.Table
	migrations []Migration
}

var _ saga.Store = (*Store)(nil)

// check panics, naming the type, when s was not made by New.
func (s *Store) check() {
	if s == nil || s.db == nil {
		panic("sqlitesaga: Store used without New")
	}
}

type statements struct {
	create, update, version, get, claim, renew, list string
}

const columns = "id, name, status, step, data, error, deadline, owner, lease_until, version, created_at, updated_at"

// New returns a Store keeping sagas in db (opened with sqlite.Open), or an
// error naming the first invalid setting. It does not touch the database;
// call Migrate to create the table.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlitesaga: New: db must not be nil")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{{table}}", sqlident.Quote(sc.Name()), "{{columns}}", columns)
	return &Store{db: db, table: sc.Name(), migrations: sc.Migrations(), sql: statements{
		create: r.Replace(`INSERT INTO {{table}} ({{columns}})
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`),
		update: r.Replace(`UPDATE {{table}}
SET status = ?, step = ?, data = ?, error = ?, owner = ?, lease_until = ?, updated_at = ?, version = version + 1
WHERE id = ? AND version = ?`),
		version: r.Replace(`SELECT version FROM {{table}} WHERE id = ?`),
		get:     r.Replace(`SELECT {{columns}} FROM {{table}} WHERE id = ?`),
		claim: r.Replace(`UPDATE {{table}} SET owner = ?, lease_until = ?, version = version + 1
WHERE id IN (
	SELECT id FROM {{table}}
	WHERE name = ? AND status IN ('running', 'compensating') AND lease_until <= ?
	ORDER BY lease_until, id
	LIMIT ?
)
RETURNING {{columns}}`),
		renew: r.Replace(`UPDATE {{table}} SET lease_until = ?
WHERE owner = ? AND status IN ('running', 'compensating') AND id IN `),
		list: r.Replace(`SELECT {{columns}} FROM {{table}}`),
	}}, nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// data keeps nil data out of the NOT NULL column.
func data(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Create implements saga.Store.
func (s *Store) Create(ctx context.Context, rec saga.Record) error {
	s.check()
	res, err := s.db.ExecContext(ctx, s.sql.create,
		rec.ID, rec.Name, string(rec.Status), rec.Step, data(rec.Data), rec.Error, micros(rec.Deadline),
		rec.Owner, micros(rec.LeaseUntil), rec.Version, micros(rec.CreatedAt), micros(rec.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlitesaga: creating saga %s: %w", rec.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitesaga: creating saga %s: %w", rec.ID, err)
	} else if n == 0 {
		return fmt.Errorf("sqlitesaga: saga %s: %w", rec.ID, saga.ErrExists)
	}
	return nil
}

// Update implements saga.Store. It is one UPDATE; only when that matches
// no row does it read, to tell a conflict from a missing saga.
func (s *Store) Update(ctx context.Context, rec saga.Record) error {
	s.check()
	res, err := s.db.ExecContext(ctx, s.sql.update,
		string(rec.Status), rec.Step, data(rec.Data), rec.Error, rec.Owner, micros(rec.LeaseUntil), micros(rec.UpdatedAt),
		rec.ID, rec.Version)
	if err != nil {
		return fmt.Errorf("sqlitesaga: updating saga %s: %w", rec.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitesaga: updating saga %s: %w", rec.ID, err)
	} else if n == 1 {
		return nil
	}
	var version int64
	switch err := s.db.QueryRowContext(ctx, s.sql.version, rec.ID).Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlitesaga: saga %s: %w", rec.ID, saga.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlitesaga: updating saga %s: %w", rec.ID, err)
	}
	return fmt.Errorf("sqlitesaga: saga %s is at version %d, not %d: %w", rec.ID, version, rec.Version, saga.ErrConflict)
}

// Get implements saga.Store.
func (s *Store) Get(ctx context.Context, id string) (saga.Record, error) {
	s.check()
	recs, err := s.query(ctx, s.sql.get, id)
	if err != nil {
		return saga.Record{}, fmt.Errorf("sqlitesaga: reading saga %s: %w", id, err)
	}
	if len(recs) == 0 {
		return saga.Record{}, fmt.Errorf("sqlitesaga: saga %s: %w", id, saga.ErrNotFound)
	}
	return recs[0], nil
}

// Claim implements saga.Store. The statement runs in a transaction that
// takes the write lock first, so concurrent claims by other processes wait
// for it and then see its leases.
func (s *Store) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	s.check()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitesaga: claiming sagas: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, s.sql.claim, owner, micros(until), name, micros(now), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitesaga: claiming sagas: %w", err)
	}
	recs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlitesaga: claiming sagas: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlitesaga: claiming sagas: %w", err)
	}
	return recs, nil
}

// Renew implements saga.Store.
func (s *Store) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	s.check()
	const chunk = 500 // well below SQLite's limit on parameters
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := []any{micros(until), owner}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		query := s.sql.renew + "(?" + strings.Repeat(", ?", n-1) + ")"
		if _, err := s.db.ExecContext(ctx, query, args...); err != nil {
			return fmt.Errorf("sqlitesaga: renewing leases: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// List implements saga.Store.
func (s *Store) List(ctx context.Context, q saga.ListQuery) ([]saga.Record, error) {
	s.check()
	var (
		where []string
		args  []any
	)
	if q.Name != "" {
		where, args = append(where, "name = ?"), append(args, q.Name)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	if q.After != "" {
		where, args = append(where, "id > ?"), append(args, q.After)
	}
	query := s.sql.list
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	recs, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitesaga: listing sagas: %w", err)
	}
	return recs, nil
}

func (s *Store) query(ctx context.Context, query string, args ...any) ([]saga.Record, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows)
}

// collect scans rows of the columns, rejecting an unknown status.
func collect(rows *sql.Rows) ([]saga.Record, error) {
	defer rows.Close()
	var out []saga.Record
	for rows.Next() {
		var (
			r                                                  saga.Record
			status                                             string
			deadline, leaseUntil, createdAt, updatedAt, step64 int64
		)
		if err := rows.Scan(&r.ID, &r.Name, &status, &step64, &r.Data, &r.Error, &deadline,
			&r.Owner, &leaseUntil, &r.Version, &createdAt, &updatedAt); err != nil {
			return nil, err
		}
		st, err := saga.ParseStatus(status)
		if err != nil {
			return nil, fmt.Errorf("saga %s: %w", r.ID, err)
		}
		r.Status, r.Step = st, int(step64)
		r.Deadline, r.LeaseUntil = fromMicros(deadline), fromMicros(leaseUntil)
		r.CreatedAt, r.UpdatedAt = fromMicros(createdAt), fromMicros(updatedAt)
		out = append(out, r)
	}
	return out, rows.Err()
}
