package sqlitesaga

import (
	"context"
	_ "embed"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = sqlitemigrate.Migration

// schemaSQL is step 1, the schema of the release before migrations were
// versioned.
//
//go:embed schema.sql
var schemaSQL string

// Migrations returns the steps that Migrate runs for a store configured by
// cfg, in order, with cfg's names in their SQL, or the error New returns
// for cfg. To run them with a migration tool of your own (goose, atlas),
// run each step's SQL once, in order, in a transaction: the step records
// itself in bulwark_migrations, so a later Migrate runs only newer steps.
// The steps:
//
//  1. create the table and its claim and status indexes (as the release
//     before versioned migrations did, which Migrate thus adopts, sagas
//     kept).
func Migrations(cfg Config) ([]Migration, error) { return sqlmigrate.Of(newSchema(cfg)) }

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a write
// transaction (BEGIN IMMEDIATE) with its record, so it is safe to run at
// every start from several processes sharing the file at once. A database
// migrated by a later release is left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return sqlitemigrate.Run(ctx, s.db, "sqlitesaga", s.table, s.migrations)
}

// newSchema checks the table configured by cfg and derives the names of
// its claim and status indexes.
func newSchema(cfg Config) (sqlitemigrate.TableSchema, error) {
	return sqlitemigrate.NewTableSchema("sqlitesaga", "create the table and its indexes", schemaSQL, cfg.Table, DefaultConfig().Table, "claim", "status")
}
