package sqlitecqrs

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Migration is one versioned step of the store's schema: its Version (1,
// 2, …), a Name saying what it does, and its SQL with the configured
// names, which also creates the migrations table if it is missing and
// records the step in it.
type Migration = sqlitemigrate.Migration

// migrateSQL is step 1, the schema of the release before migrations were
// versioned.
//
//go:embed migrate.sql
var migrateSQL string

// Migrations returns the steps that Migrate runs for a store configured by
// cfg, in order, with cfg's names in their SQL, or the error New returns
// for cfg. For teams that run migrations with a tool of their own (goose,
// atlas, the sqlite3 shell): run each step's SQL once, in order of
// Version, in a transaction. Each step records itself in the table
// bulwark_migrations of Config.Table's schema, so a later Migrate finds it
// done and runs only newer steps; every statement in it is idempotent, so
// running a step again changes nothing.
//
//  1. create the checkpoints table (as the release before versioned
//     migrations did, which Migrate thus adopts, checkpoints kept).
func Migrations(cfg Config) ([]Migration, error) {
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	return sc.migrations(), nil
}

// Migrate brings the store's schema to the latest version: it runs the
// steps of Migrations that the database has not recorded, in order, each
// in a write transaction with its record (BEGIN IMMEDIATE, so processes
// sharing the file take turns and later ones find the steps done). It is
// safe to run at every start. A database migrated by a later release is
// left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	if err := sqlitemigrate.Run(ctx, s.db, "sqlitecqrs", s.table, s.migrations); err != nil {
		return fmt.Errorf("sqlitecqrs: migrating: %w", err)
	}
	return nil
}

// schema is a store's table.
type schema struct{ table string }

func newSchema(cfg Config) (schema, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultConfig().Table
	}
	n := sqlident.NewNames("sqlitecqrs", sqlident.SQLite)
	n.Table("Table", cfg.Table)
	return schema{table: cfg.Table}, n.Err()
}

func (sc schema) migrations() []Migration {
	return sqlitemigrate.Build("sqlitecqrs", sc.table, []Migration{
		{Version: 1, Name: "create the checkpoints table", SQL: strings.ReplaceAll(migrateSQL, "{{table}}", sqlident.Quote(sc.table))},
	})
}
