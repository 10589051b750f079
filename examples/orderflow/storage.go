package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// storage gives each service a database of its own, and the pattern stores
// that live in it. The services' own SQL is written once for both engines
// (SQLite takes PostgreSQL's $1 placeholders, ON CONFLICT and RETURNING);
// only the stores differ, one adapter per engine.
type storage interface {
	// open returns the database of one service.
	open(ctx context.Context, service string) (*database, error)
	// outbox returns the outbox store in db and its Enqueue, which writes
	// messages in the caller's transaction.
	outbox(ctx context.Context, db *database) (outbox.Store, enqueueFunc, error)
	// idempotency returns the idempotency record store in db.
	idempotency(ctx context.Context, db *database) (idempotency.Store, error)
	// sagas returns the saga log store in db.
	sagas(ctx context.Context, db *database) (saga.Store, error)
	// close closes every database (and, on PostgreSQL, drops the run's
	// schemas).
	close() error
	describe() string
}

// enqueueFunc writes outbox messages in tx.
type enqueueFunc func(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error

// database is one service's database: database/sql for its own tables, and
// on PostgreSQL the pgx pool its pattern stores take.
type database struct {
	*sql.DB
	pool *pgxpool.Pool
}

// sqliteStorage keeps each service's database in an SQLite file of its own
// in dir: nothing to install, nothing left behind once dir is removed.
type sqliteStorage struct {
	dir string
	dbs []*sql.DB
}

func (s *sqliteStorage) open(ctx context.Context, service string) (*database, error) {
	db, err := sqlite.Open(ctx, filepath.Join(s.dir, service+".db"))
	if err != nil {
		return nil, err
	}
	s.dbs = append(s.dbs, db)
	return &database{DB: db}, nil
}

func (s *sqliteStorage) outbox(ctx context.Context, db *database) (outbox.Store, enqueueFunc, error) {
	st, err := sqliteoutbox.New(db.DB, sqliteoutbox.Config{})
	if err != nil {
		return nil, nil, err
	}
	return st, st.Enqueue, st.Migrate(ctx)
}

func (s *sqliteStorage) idempotency(ctx context.Context, db *database) (idempotency.Store, error) {
	st, err := sqliteidempotency.New(db.DB, sqliteidempotency.Config{})
	if err != nil {
		return nil, err
	}
	return st, st.Migrate(ctx)
}

func (s *sqliteStorage) sagas(ctx context.Context, db *database) (saga.Store, error) {
	st, err := sqlitesaga.New(db.DB, sqlitesaga.Config{})
	if err != nil {
		return nil, err
	}
	return st, st.Migrate(ctx)
}

func (s *sqliteStorage) close() error {
	var errs []error
	for _, db := range s.dbs {
		errs = append(errs, db.Close())
	}
	return errors.Join(errs...)
}

func (s *sqliteStorage) describe() string { return "SQLite files in " + s.dir }

// postgresStorage gives each service a schema of its own on one PostgreSQL
// server, named after the run so that runs never meet, and drops them at
// the end.
type postgresStorage struct {
	dsn     string
	run     string
	admin   *pgxpool.Pool
	schemas []string
	pools   []*pgxpool.Pool
	dbs     []*sql.DB
}

func newPostgresStorage(ctx context.Context, dsn string) (*postgresStorage, error) {
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	if err := admin.Ping(ctx); err != nil {
		admin.Close()
		return nil, fmt.Errorf("-postgres: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &postgresStorage{dsn: dsn, run: hex.EncodeToString(b[:]), admin: admin}, nil
}

func (s *postgresStorage) open(ctx context.Context, service string) (*database, error) {
	schema := "orderflow_" + s.run + "_" + service
	if _, err := s.admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return nil, err
	}
	s.schemas = append(s.schemas, schema)
	cfg, err := pgxpool.ParseConfig(s.dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	s.pools, s.dbs = append(s.pools, pool), append(s.dbs, db)
	return &database{DB: db, pool: pool}, nil
}

func (s *postgresStorage) outbox(ctx context.Context, db *database) (outbox.Store, enqueueFunc, error) {
	// NOTIFY channels belong to the database, not the schema.
	st, err := pgoutbox.New(db.pool, pgoutbox.Config{Channel: "orderflow_" + s.run})
	if err != nil {
		return nil, nil, err
	}
	return st, st.EnqueueSQL, st.Migrate(ctx)
}

func (s *postgresStorage) idempotency(ctx context.Context, db *database) (idempotency.Store, error) {
	st, err := pgidempotency.New(db.pool, pgidempotency.Config{})
	if err != nil {
		return nil, err
	}
	return st, st.Migrate(ctx)
}

func (s *postgresStorage) sagas(ctx context.Context, db *database) (saga.Store, error) {
	st, err := pgsaga.New(db.pool, pgsaga.Config{})
	if err != nil {
		return nil, err
	}
	return st, st.Migrate(ctx)
}

func (s *postgresStorage) close() error {
	var errs []error
	for _, db := range s.dbs {
		errs = append(errs, db.Close())
	}
	for _, p := range s.pools {
		p.Close()
	}
	for _, schema := range s.schemas {
		_, err := s.admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		errs = append(errs, err)
	}
	s.admin.Close()
	return errors.Join(errs...)
}

func (s *postgresStorage) describe() string {
	return "PostgreSQL schemas orderflow_" + s.run + "_*"
}
