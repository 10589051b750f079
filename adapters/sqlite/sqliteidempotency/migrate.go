package sqliteidempotency

import (
	"context"
	_ "embed"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = sqlitemigrate.Migration

// migrateSQL is step 1, the schema of the release before migrations were
// versioned.
//
//go:embed migrate.sql
var migrateSQL string

// Migrations returns the steps that Migrate runs for a store configured by
// cfg, in order, with cfg's names in their SQL, or the error New returns
// for cfg. To run them with a migration tool of your own (goose, atlas),
// run each step's SQL once, in order, in a transaction: the step records
// itself in bulwark_migrations, so a later Migrate runs only newer steps.
// The steps:
//
//  1. create the table and its expiry index (as the release before
//     versioned migrations did, which Migrate thus adopts, records kept).
func Migrations(cfg Config) ([]Migration, error) {
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	return sc.migrations(), nil
}

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a write
// transaction (BEGIN IMMEDIATE) with its record, so it is safe to run at
// every start from several processes sharing the file at once. A database
// migrated by a later release is left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return sqlitemigrate.Run(ctx, s.db, "sqliteidempotency", s.table, s.migrations)
}

// schema is a store's table and the name of its index.
type schema struct{ table, index string }

func newSchema(cfg Config) (schema, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	n := sqlident.NewNames("sqliteidempotency", sqlident.SQLite)
	n.Table("Table", cfg.Table)
	sc := schema{table: cfg.Table, index: n.Derived("Table", cfg.Table, "expires_at")}
	return sc, n.Err()
}

func (sc schema) migrations() []Migration {
	// SQLite qualifies the index's name, not its table: CREATE INDEX
	// "app"."t_expires_at" ON "t".
	tableSchema, base := sqlident.Split(sc.table)
	body := strings.NewReplacer(
		"{{table}}", sqlident.Quote(sc.table),
		"{{index}}", sqlident.Quote(sqlident.Qualify(tableSchema, sc.index)),
		"{{unqualified}}", sqlident.Quote(base),
	).Replace(migrateSQL)
	return sqlitemigrate.Build("sqliteidempotency", sc.table, []Migration{
		{Version: 1, Name: "create the table and its expiry index", SQL: body},
	})
}
