package pgsaga

import (
	"context"
	_ "embed"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = pgmigrate.Migration

// schemaSQL is step 1, the schema of the release before migrations were
// versioned; step 2 renders it again with the names that fit.
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
//     before versioned migrations did, which Migrate thus adopts: table
//     and sagas kept, missing indexes created);
//  2. give the indexes names that fit in 63 bytes, for a table named so
//     long that PostgreSQL cut the names step 1 derives from it (to one
//     name, so the second index was skipped); nothing to do for shorter
//     names.
func Migrations(cfg Config) ([]Migration, error) { return sqlmigrate.Of(newSchema(cfg)) }

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a
// transaction with its record, holding the advisory lock that all bulwark
// migrations take, so it is safe to run at every start from several
// processes at once. A database migrated by a later release is left as it
// is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return pgmigrate.Run(ctx, s.db, "pgsaga", s.table, s.migrations)
}

// newSchema checks the table configured by cfg and derives the names of
// its claim and status indexes.
func newSchema(cfg Config) (pgmigrate.TableSchema, error) {
	return pgmigrate.NewTableSchema("pgsaga", pgmigrate.Steps{SQL: schemaSQL, Create: "create the table and its indexes",
		Rename: "name the indexes to fit in 63 bytes"}, cfg.Table, DefaultConfig().Table, "claim", "status")
}
