package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// database is the example's order database with its outbox.
type database struct {
	kind    string
	dsn     string // PostgreSQL
	path    string // SQLite
	schema  string // PostgreSQL
	sqlDB   *sql.DB
	pool    *pgxpool.Pool
	sqlite  *sqliteoutbox.Store
	pg      *pgoutbox.Store
	closeFn func()
}

func openDB(ctx context.Context, o Options) (*database, error) {
	switch o.DB {
	case "sqlite":
		path := filepath.Join(o.Dir, "orders.db")
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		store, err := sqliteStore(db)
		if err == nil {
			err = store.Migrate(ctx)
		}
		if err == nil {
			_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)`)
		}
		if err != nil {
			db.Close()
			return nil, err
		}
		return &database{kind: "sqlite", path: path, sqlDB: db, sqlite: store, closeFn: func() { db.Close() }}, nil
	case "postgres":
		if o.DSN == "" {
			return nil, errors.New("-db postgres needs -dsn or BULWARK_POSTGRES_DSN")
		}
		pool, err := pgxpool.New(ctx, o.DSN)
		if err != nil {
			return nil, err
		}
		// A schema of its own per run, so runs do not see each other.
		var n int
		if err := pool.QueryRow(ctx, "SELECT (random()*1e9)::int").Scan(&n); err != nil {
			pool.Close()
			return nil, err
		}
		schema := fmt.Sprint("outbox_example_", n)
		_, err = pool.Exec(ctx, `CREATE SCHEMA `+schema)
		var store *pgoutbox.Store
		if err == nil {
			store, err = pgStore(pool, schema)
		}
		if err == nil {
			err = store.Migrate(ctx)
		}
		if err == nil {
			_, err = pool.Exec(ctx, `CREATE TABLE `+schema+`.orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)`)
		}
		if err != nil {
			_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			pool.Close()
			return nil, err
		}
		d := &database{kind: "postgres", dsn: o.DSN, pool: pool, pg: store, schema: schema}
		d.closeFn = func() {
			_, _ = pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
			pool.Close()
		}
		return d, nil
	}
	return nil, fmt.Errorf("-db must be sqlite or postgres, got %q", o.DB)
}

func sqliteStore(db *sql.DB) (*sqliteoutbox.Store, error) {
	return sqliteoutbox.New(db, sqliteoutbox.Config{})
}

// pgStore is the outbox in schema, with a notification channel of its own
// (channels are per database, not per schema).
func pgStore(pool *pgxpool.Pool, schema string) (*pgoutbox.Store, error) {
	return pgoutbox.New(pool, pgoutbox.Config{Table: schema + ".outbox_messages", DeadLetterTable: schema + ".outbox_dead_letters", Channel: schema})
}

func (d *database) Close() { d.closeFn() }

// placeOrder writes the order and its event in one transaction: both
// commit, or neither.
func (d *database) placeOrder(ctx context.Context, id string, total int) error {
	event := outbox.NewMessage("orders.created", id, fmt.Appendf(nil, `{"order":%q,"total":%d}`, id, total))
	if d.kind == "sqlite" {
		tx, err := d.sqlDB.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, total) VALUES (?, ?)`, id, total); err != nil {
			return err
		}
		if err := d.sqlite.Enqueue(ctx, tx, event); err != nil {
			return err
		}
		return tx.Commit()
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO `+d.schema+`.orders (id, total) VALUES ($1, $2)`, id, total); err != nil {
			return err
		}
		return d.pg.Enqueue(ctx, tx, event)
	})
}

// relayEnv tells the relay process where the outbox is.
func (d *database) relayEnv() []string {
	if d.kind == "sqlite" {
		return []string{"EXAMPLE_DB=sqlite", "EXAMPLE_PATH=" + d.path}
	}
	return []string{"EXAMPLE_DB=postgres", "EXAMPLE_DSN=" + d.dsn, "EXAMPLE_SCHEMA=" + d.schema}
}
