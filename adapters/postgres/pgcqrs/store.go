// Package pgcqrs keeps the checkpoints of cqrs projections in PostgreSQL
// (pgx/v5): a cqrs.Store whose transactions are pgx.Tx, so that read
// models in the same database are updated exactly once. It passes the
// cqrstest conformance suite.
//
// Each projection version is one row. Update begins a transaction, locks
// the row (SELECT … FOR UPDATE, creating it first if it is missing), runs
// the projector's function — which applies a batch of events through the
// transaction — writes the row back and commits: four round trips beside
// the handlers' own statements. The row lock makes a projection's updates
// take turns; updates of different projections run in parallel.
//
// The read models must live in the database of DB, and handlers must
// return the errors of their statements (a failed statement aborts the
// transaction, and the checkpoint with it).
//
// Migrations. Migrate creates and upgrades the table by versioned,
// forward-only steps (see Migrations), each run once, in a transaction with
// its record in the table bulwark_migrations of Config.Table's schema,
// under an advisory lock, so every process may run it at start. A
// database made by a release before versioned migrations is adopted:
// Migrate keeps its checkpoints and brings it to the latest version.
// Migrations returns the steps' SQL for teams that run migrations with a
// tool of their own (goose, atlas); each step records itself, so a later
// Migrate does not run it again.
package pgcqrs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/jackc/pgx/v5"
)

// DB is what the store needs of a database: *pgxpool.Pool and *pgx.Conn
// have it (a *pgx.Conn serves one Update at a time).
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Config configures a Store. The zero value is the default configuration
// (see DefaultConfig).
type Config struct {
	// Table holds the checkpoints, "name" or "schema.name": letters,
	// digits and underscores. Empty means "bulwark_projections".
	Table string
}

// DefaultConfig returns the configuration the zero Config stands for,
// spelled out: the table "bulwark_projections".
func DefaultConfig() Config {
	return Config{Table: "bulwark_projections"}
}

// Store is a cqrs.Store in a PostgreSQL table. It is safe for concurrent
// use by many goroutines and processes.
type Store struct {
	db  DB
	sql statements

	table      string // Config.Table
	migrations []Migration
}

var _ cqrs.Store[pgx.Tx] = (*Store)(nil)

type statements struct {
	lock, create, write, list string
}

const columns = `name, version, position, live, owner, lease_until, failed_position, failed_error, failed_at, updated_at`

// New returns a Store of checkpoints in db, the database holding the read
// models too, or an error naming a nil db or the first invalid setting. It
// does not touch the database; call Migrate to create the table.
func New(db DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("pgcqrs: New needs a database (db is nil)")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{{table}}", sqlident.Quote(sc.Name()), "{{columns}}", columns)
	return &Store{db: db, table: sc.Name(), migrations: sc.Migrations(), sql: statements{
		lock:   r.Replace(`SELECT {{columns}} FROM {{table}} WHERE name = $1 AND version = $2 FOR UPDATE`),
		create: r.Replace(`INSERT INTO {{table}} (name, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`),
		write: r.Replace(`UPDATE {{table}} SET position = $3, live = $4, owner = $5, lease_until = $6,
	failed_position = $7, failed_error = $8, failed_at = $9, updated_at = $10
WHERE name = $1 AND version = $2`),
		list: r.Replace(`SELECT {{columns}} FROM {{table}} ORDER BY name COLLATE "C", version`),
	}}, nil
}

// check panics on the zero Store.
func (s *Store) check() {
	if s.db == nil {
		panic("pgcqrs: Store used without New")
	}
}

// Update implements cqrs.Store.Update in one transaction of its own, with
// the checkpoint's row locked from the start.
func (s *Store) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx pgx.Tx, cp *cqrs.Checkpoint) error) error {
	s.check()
	fail := func(err error) error {
		return fmt.Errorf("pgcqrs: updating the checkpoint of %q version %d: %w", name, version, err)
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // a no-op after Commit
	cp, err := s.lock(ctx, tx, name, version)
	if err != nil {
		return fail(err)
	}
	if err := fn(ctx, tx, &cp); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, s.sql.write, name, version, cp.Position, cp.Live, cp.Owner, nullTime(cp.LeaseUntil),
		cp.Failed.Position, cp.Failed.Error, nullTime(cp.Failed.At), nullTime(cp.UpdatedAt)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// lock reads and locks the checkpoint, creating it first if it is missing.
func (s *Store) lock(ctx context.Context, tx pgx.Tx, name string, version int) (cqrs.Checkpoint, error) {
	for created := false; ; created = true {
		rows, err := tx.Query(ctx, s.sql.lock, name, version)
		if err != nil {
			return cqrs.Checkpoint{}, err
		}
		cps, err := scan(rows)
		switch {
		case err != nil:
			return cqrs.Checkpoint{}, err
		case len(cps) == 1:
			return cps[0], nil
		case created:
			return cqrs.Checkpoint{}, errors.New("the checkpoint row vanished after it was created")
		}
		if _, err := tx.Exec(ctx, s.sql.create, name, version); err != nil {
			return cqrs.Checkpoint{}, err
		}
	}
}

// List implements cqrs.Store.List.
func (s *Store) List(ctx context.Context) ([]cqrs.Checkpoint, error) {
	s.check()
	rows, err := s.db.Query(ctx, s.sql.list)
	if err != nil {
		return nil, fmt.Errorf("pgcqrs: listing the checkpoints: %w", err)
	}
	cps, err := scan(rows)
	if err != nil {
		return nil, fmt.Errorf("pgcqrs: listing the checkpoints: %w", err)
	}
	return cps, nil
}

func scan(rows pgx.Rows) ([]cqrs.Checkpoint, error) {
	defer rows.Close()
	var out []cqrs.Checkpoint
	for rows.Next() {
		var (
			cp                              cqrs.Checkpoint
			leaseUntil, failedAt, updatedAt *time.Time
		)
		if err := rows.Scan(&cp.Name, &cp.Version, &cp.Position, &cp.Live, &cp.Owner, &leaseUntil,
			&cp.Failed.Position, &cp.Failed.Error, &failedAt, &updatedAt); err != nil {
			return nil, err
		}
		cp.LeaseUntil, cp.Failed.At, cp.UpdatedAt = timeOf(leaseUntil), timeOf(failedAt), timeOf(updatedAt)
		out = append(out, cp)
	}
	return out, rows.Err()
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
