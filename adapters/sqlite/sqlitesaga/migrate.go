package sqlitesaga

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

// schemaSQL is step 1, the schema of the release before migrations were
// versioned.
//
//go:embed schema.sql
var schemaSQL string

// Migrations returns the steps that Migrate runs for a store configured by
// cfg, in order, with cfg's names in their SQL, or the error New returns
// for cfg. For teams that run migrations with a tool of their own (goose,
// atlas, the sqlite3 shell): run each step's SQL once, in order of
// Version, in a transaction. Each step records itself in the table
// bulwark_migrations of Config.Table's schema, so a later Migrate finds it
// done and runs only newer steps; every statement in it is idempotent, so
// running a step again changes nothing.
//
//  1. create the table and its claim and status indexes (as the release
//     before versioned migrations did, which Migrate thus adopts, sagas
//     kept).
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
	if err := sqlitemigrate.Run(ctx, s.db, "sqlitesaga", s.table, s.migrations); err != nil {
		return fmt.Errorf("sqlitesaga: migrating: %w", err)
	}
	return nil
}

// schema is a store's table and the names of its indexes.
type schema struct{ table, claim, status string }

func newSchema(cfg Config) (schema, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultConfig().Table
	}
	n := sqlident.NewNames("sqlitesaga", sqlident.SQLite)
	n.Table("Table", cfg.Table)
	sc := schema{table: cfg.Table, claim: n.Derived("Table", cfg.Table, "claim"), status: n.Derived("Table", cfg.Table, "status")}
	return sc, n.Err()
}

func (sc schema) migrations() []Migration {
	// SQLite qualifies the index's name, not its table:
	// CREATE INDEX "app"."sagas_claim" ON "sagas".
	tableSchema, base := sqlident.Split(sc.table)
	body := strings.NewReplacer(
		"{{table}}", sqlident.Quote(sc.table),
		"{{unqualified}}", sqlident.Quote(base),
		"{{claim_index}}", sqlident.Quote(sqlident.Qualify(tableSchema, sc.claim)),
		"{{status_index}}", sqlident.Quote(sqlident.Qualify(tableSchema, sc.status)),
	).Replace(schemaSQL)
	return sqlitemigrate.Build("sqlitesaga", sc.table, []Migration{
		{Version: 1, Name: "create the table and its indexes", SQL: body},
	})
}
