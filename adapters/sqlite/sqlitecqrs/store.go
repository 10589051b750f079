// Package sqlitecqrs keeps the checkpoints of cqrs projections in SQLite
// (modernc.org/sqlite, pure Go): a cqrs.Store whose transactions are
// *sql.Tx, so that read models in the same database file are updated
// exactly once. It passes the cqrstest conformance suite.
//
// Open the database with sqlite.Open (github.com/bulwark-go/bulwark/adapters/sqlite):
// its transactions take the write lock up front, so an Update reads the
// checkpoint, runs the projector's function — which applies a batch of
// events through the transaction — and writes the checkpoint back as one
// step among all the goroutines and processes sharing the file. Updates, and
// every other writer of the file, take turns: keep batches small enough
// that appends do not wait long behind them.
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
package sqlitecqrs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

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

// Store is a cqrs.Store in a SQLite table. It is safe for concurrent use by
// many goroutines and processes.
type Store struct {
	db  *sql.DB
	sql statements

	mu          sync.Mutex // guards the prepared statements
	read, write *sql.Stmt  // prepared at the first Update

	table      string // Config.Table
	migrations []Migration
}

var _ cqrs.Store[*sql.Tx] = (*Store)(nil)

type statements struct {
	read, write, list string
}

const columns = `name, version, position, live, owner, lease_until, failed_position, failed_error, failed_at, updated_at`

// New returns a Store of checkpoints in db (opened with sqlite.Open), the
// database holding the read models too, or an error naming a nil db or the
// first invalid setting. It does not touch the database; call Migrate to
// create the table.
func New(db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlitecqrs: New needs a database (db is nil)")
	}
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	cfg.Table = sc.Name()
	r := strings.NewReplacer("{{table}}", sqlident.Quote(cfg.Table), "{{columns}}", columns)
	return &Store{db: db, table: cfg.Table, migrations: sc.Migrations(), sql: statements{
		read: r.Replace(`SELECT {{columns}} FROM {{table}} WHERE name = ? AND version = ?`),
		write: r.Replace(`INSERT INTO {{table}} ({{columns}}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name, version) DO UPDATE SET position = excluded.position, live = excluded.live, owner = excluded.owner,
	lease_until = excluded.lease_until, failed_position = excluded.failed_position, failed_error = excluded.failed_error,
	failed_at = excluded.failed_at, updated_at = excluded.updated_at`),
		list: r.Replace(`SELECT {{columns}} FROM {{table}} ORDER BY name, version`),
	}}, nil
}

// check panics on the zero Store.
func (s *Store) check() {
	if s.db == nil {
		panic("sqlitecqrs: Store used without New")
	}
}

// Update implements cqrs.Store.Update in one transaction of its own, which
// holds the database's write lock from its start.
func (s *Store) Update(ctx context.Context, name string, version int, fn func(ctx context.Context, tx *sql.Tx, cp *cqrs.Checkpoint) error) error {
	s.check()
	fail := func(err error) error {
		return fmt.Errorf("sqlitecqrs: updating the checkpoint of %q version %d: %w", name, version, err)
	}
	read, write, err := s.prepared(ctx)
	if err != nil {
		return fail(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	cps, err := scan(tx.StmtContext(ctx, read).QueryContext(ctx, name, version))
	if err != nil {
		return fail(err)
	}
	cp := cqrs.Checkpoint{Name: name, Version: version}
	if len(cps) == 1 {
		cp = cps[0]
	}
	if err := fn(ctx, tx, &cp); err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, write).ExecContext(ctx, name, version, cp.Position, cp.Live, cp.Owner, micros(cp.LeaseUntil),
		cp.Failed.Position, cp.Failed.Error, micros(cp.Failed.At), micros(cp.UpdatedAt)); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// prepared returns the statements Update runs, prepared once: SQLite
// parsing them costs more than running them.
func (s *Store) prepared(ctx context.Context) (read, write *sql.Stmt, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.read == nil {
		if s.read, err = s.db.PrepareContext(ctx, s.sql.read); err != nil {
			return nil, nil, err
		}
	}
	if s.write == nil {
		if s.write, err = s.db.PrepareContext(ctx, s.sql.write); err != nil {
			return nil, nil, err
		}
	}
	return s.read, s.write, nil
}

// List implements cqrs.Store.List.
func (s *Store) List(ctx context.Context) ([]cqrs.Checkpoint, error) {
	s.check()
	cps, err := scan(s.db.QueryContext(ctx, s.sql.list))
	if err != nil {
		return nil, fmt.Errorf("sqlitecqrs: listing the checkpoints: %w", err)
	}
	return cps, nil
}

func scan(rows *sql.Rows, err error) ([]cqrs.Checkpoint, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cqrs.Checkpoint
	for rows.Next() {
		var (
			cp                              cqrs.Checkpoint
			leaseUntil, failedAt, updatedAt sql.NullInt64
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

// micros stores a time as Unix microseconds, the zero time as NULL.
func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timeOf(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return time.UnixMicro(us.Int64).UTC()
}
