// Package pgsaga keeps saga logs in PostgreSQL (pgx/v5), for
// saga.Orchestrator.
//
// Each saga is one row. On the happy path every transition is one
// statement: Create an INSERT, each later transition an UPDATE fenced by
// the row's version; nothing is read. Claim takes over sagas whose lease
// ended with one UPDATE over a FOR UPDATE SKIP LOCKED selection, so
// several orchestrators claim side by side without waiting on each other
// and never claim the same saga.
//
// Migrations. Migrate creates and upgrades the table by versioned,
// forward-only steps (see Migrations), each run once, in a transaction with
// its record in the table bulwark_migrations of Config.Table's schema,
// under an advisory lock, so every process may run it at start. A
// database made by a release before versioned migrations is adopted:
// Migrate keeps its sagas and brings it to the latest version. Migrations
// returns the steps' SQL for teams that run migrations with a tool of
// their own (goose, atlas); each step records itself, so a later Migrate
// does not run it again.
package pgsaga

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the store needs of a connection: *pgxpool.Pool and *pgx.Conn
// have it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

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

// Store is a saga.Store in a PostgreSQL table. It is safe for concurrent
// use by many goroutines and processes.
type Store struct {
	db  DB
	sql statements

	table      string // Config.Table
	migrations []Migration
}

var _ saga.Store = (*Store)(nil)

// check panics, naming the type, when s was not made by New.
func (s *Store) check() {
	if s == nil || s.db == nil {
		panic("pgsaga: Store used without New")
	}
}

type statements struct {
	create, update, version, get, claim, renew, list string
}

const columns = "id, name, status, step, data, error, deadline, owner, lease_until, version, created_at, updated_at"

// New returns a Store keeping sagas in db, or an error naming the first
// invalid setting. It does not touch the database; call Migrate to create
// the table.
func New(db DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("pgsaga: New: db must not be nil")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{{table}}", sqlident.Quote(sc.Name()), "{{columns}}", columns)
	return &Store{db: db, table: sc.Name(), migrations: sc.Migrations(), sql: statements{
		create: r.Replace(`INSERT INTO {{table}} ({{columns}})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO NOTHING`),
		update: r.Replace(`UPDATE {{table}}
SET status = $2, step = $3, data = $4, error = $5, owner = $6, lease_until = $7, updated_at = $8, version = version + 1
WHERE id = $1 AND version = $9`),
		version: r.Replace(`SELECT version FROM {{table}} WHERE id = $1`),
		get:     r.Replace(`SELECT {{columns}} FROM {{table}} WHERE id = $1`),
		claim: r.Replace(`WITH due AS (
	SELECT id FROM {{table}}
	WHERE name = $1 AND status IN ('running', 'compensating') AND lease_until <= $3
	ORDER BY lease_until, id
	LIMIT $5
	FOR UPDATE SKIP LOCKED
)
UPDATE {{table}} AS s SET owner = $2, lease_until = $4, version = s.version + 1
FROM due WHERE s.id = due.id
RETURNING s.id, s.name, s.status, s.step, s.data, s.error, s.deadline, s.owner, s.lease_until, s.version, s.created_at, s.updated_at`),
		renew: r.Replace(`UPDATE {{table}} SET lease_until = $3
WHERE id = ANY($2) AND owner = $1 AND status IN ('running', 'compensating')`),
		list: r.Replace(`SELECT {{columns}} FROM {{table}}`),
	}}, nil
}

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
	tag, err := s.db.Exec(ctx, s.sql.create,
		rec.ID, rec.Name, string(rec.Status), rec.Step, data(rec.Data), rec.Error, rec.Deadline,
		rec.Owner, rec.LeaseUntil, rec.Version, rec.CreatedAt, rec.UpdatedAt)
	if err != nil {
		return fmt.Errorf("pgsaga: creating saga %s: %w", rec.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgsaga: saga %s: %w", rec.ID, saga.ErrExists)
	}
	return nil
}

// Update implements saga.Store. It is one UPDATE; only when that matches
// no row does it read, to tell a conflict from a missing saga.
func (s *Store) Update(ctx context.Context, rec saga.Record) error {
	s.check()
	tag, err := s.db.Exec(ctx, s.sql.update,
		rec.ID, string(rec.Status), rec.Step, data(rec.Data), rec.Error, rec.Owner, rec.LeaseUntil, rec.UpdatedAt, rec.Version)
	if err != nil {
		return fmt.Errorf("pgsaga: updating saga %s: %w", rec.ID, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var version int64
	switch err := s.db.QueryRow(ctx, s.sql.version, rec.ID).Scan(&version); {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("pgsaga: saga %s: %w", rec.ID, saga.ErrNotFound)
	case err != nil:
		return fmt.Errorf("pgsaga: updating saga %s: %w", rec.ID, err)
	}
	return fmt.Errorf("pgsaga: saga %s is at version %d, not %d: %w", rec.ID, version, rec.Version, saga.ErrConflict)
}

// Get implements saga.Store.
func (s *Store) Get(ctx context.Context, id string) (saga.Record, error) {
	s.check()
	rows, err := s.db.Query(ctx, s.sql.get, id)
	if err != nil {
		return saga.Record{}, fmt.Errorf("pgsaga: reading saga %s: %w", id, err)
	}
	recs, err := collect(rows)
	if err != nil {
		return saga.Record{}, fmt.Errorf("pgsaga: reading saga %s: %w", id, err)
	}
	if len(recs) == 0 {
		return saga.Record{}, fmt.Errorf("pgsaga: saga %s: %w", id, saga.ErrNotFound)
	}
	return recs[0], nil
}

// Claim implements saga.Store.
func (s *Store) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	s.check()
	rows, err := s.db.Query(ctx, s.sql.claim, name, owner, now, until, limit)
	if err != nil {
		return nil, fmt.Errorf("pgsaga: claiming sagas: %w", err)
	}
	recs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("pgsaga: claiming sagas: %w", err)
	}
	return recs, nil
}

// Renew implements saga.Store.
func (s *Store) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	s.check()
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.db.Exec(ctx, s.sql.renew, owner, ids, until); err != nil {
		return fmt.Errorf("pgsaga: renewing leases: %w", err)
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
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if q.Name != "" {
		add("name = $%d", q.Name)
	}
	if q.Status != "" {
		add("status = $%d", string(q.Status))
	}
	if q.After != "" {
		add("id > $%d", q.After)
	}
	query := s.sql.list
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		query += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	rows, err := s.db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("pgsaga: listing sagas: %w", err)
	}
	recs, err := collect(rows)
	if err != nil {
		return nil, fmt.Errorf("pgsaga: listing sagas: %w", err)
	}
	return recs, nil
}

// collect scans rows of the columns, rejecting an unknown status.
func collect(rows pgx.Rows) ([]saga.Record, error) {
	defer rows.Close()
	var out []saga.Record
	for rows.Next() {
		var (
			r      saga.Record
			status string
		)
		if err := rows.Scan(&r.ID, &r.Name, &status, &r.Step, &r.Data, &r.Error, &r.Deadline,
			&r.Owner, &r.LeaseUntil, &r.Version, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, err
		}
		st, err := saga.ParseStatus(status)
		if err != nil {
			return nil, fmt.Errorf("saga %s: %w", r.ID, err)
		}
		r.Status = st
		out = append(out, r)
	}
	return out, rows.Err()
}
