package pgidempotency

import (
	"context"
	_ "embed"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = pgmigrate.Migration

// migrateSQL is step 1, the schema of the release before migrations were
// versioned; step 2 renders it again with the names that fit.
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
//     versioned migrations did, which Migrate thus adopts: table and
//     records kept, a missing index created);
//  2. give the expiry index a name that fits in 63 bytes, for a table
//     named so long that PostgreSQL cut the name step 1 derives from it
//     (to the table's own name, so the index was skipped); nothing to do
//     for shorter names.
func Migrations(cfg Config) ([]Migration, error) {
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	return sc.migrations(), nil
}

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a
// transaction with its record, holding the advisory lock that all bulwark
// migrations take, so it is safe to run at every start from several
// processes at once. A database migrated by a later release is left as it
// is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return pgmigrate.Run(ctx, s.db, "pgidempotency", s.table, s.migrations)
}

// schema is a store's table and the name of its index, by sqlident's rule
// (index) and as the release before it derived it (legacy), which
// PostgreSQL cut at 63 bytes.
type schema struct {
	table, index, legacy string
}

func newSchema(cfg Config) (schema, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	n := sqlident.NewNames("pgidempotency", sqlident.Postgres)
	n.Table("Table", cfg.Table)
	index := n.Derived("Table", cfg.Table, "expires_at")
	if err := n.Err(); err != nil {
		return schema{}, err
	}
	_, base := sqlident.Split(cfg.Table)
	return schema{table: cfg.Table, index: index, legacy: sqlident.Derive(base, "expires_at", 0)}, nil
}

func (sc schema) render(index string) string {
	return strings.NewReplacer("{{table}}", sqlident.Quote(sc.table), "{{index}}", sqlident.Quote(index)).Replace(migrateSQL)
}

func (sc schema) migrations() []Migration {
	return pgmigrate.Build("pgidempotency", sc.table, []Migration{
		{Version: 1, Name: "create the table and its expiry index", SQL: sc.render(sc.legacy)},
		{Version: 2, Name: "name the expiry index to fit in 63 bytes", SQL: pgmigrate.RenameStep(sc.legacy != sc.index, sc.render(sc.index),
			pgmigrate.DropRenamedIndexes(sqlident.Quote(sc.table), [][2]string{{sc.legacy, sc.index}}))},
	})
}
