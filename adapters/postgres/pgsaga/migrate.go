package pgsaga

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
	if s.db == nil {
		panic("pgsaga: Store used without New")
	}
	return pgmigrate.Run(ctx, s.db, "pgsaga", s.table, s.migrations)
}

// schema is a store's table and the names of its indexes, by sqlident's
// rule (claim, status) and as the release before it derived them
// (legacy), which PostgreSQL cut at 63 bytes.
type schema struct {
	table                     string
	claim, status             string
	legacyClaim, legacyStatus string
}

func newSchema(cfg Config) (schema, error) {
	if cfg.Table == "" {
		cfg.Table = DefaultConfig().Table
	}
	n := sqlident.NewNames("pgsaga", sqlident.Postgres)
	n.Table("Table", cfg.Table)
	sc := schema{table: cfg.Table, claim: n.Derived("Table", cfg.Table, "claim"), status: n.Derived("Table", cfg.Table, "status")}
	if err := n.Err(); err != nil {
		return schema{}, err
	}
	_, base := sqlident.Split(cfg.Table)
	sc.legacyClaim, sc.legacyStatus = sqlident.Derive(base, "claim", 0), sqlident.Derive(base, "status", 0)
	return sc, nil
}

func (sc schema) render(claim, status string) string {
	return strings.NewReplacer(
		"{{table}}", sqlident.Quote(sc.table),
		"{{claim_index}}", sqlident.Quote(claim),
		"{{status_index}}", sqlident.Quote(status),
	).Replace(schemaSQL)
}

func (sc schema) migrations() []Migration {
	renamed := sc.claim != sc.legacyClaim || sc.status != sc.legacyStatus
	return pgmigrate.Build("pgsaga", sc.table, []Migration{
		{Version: 1, Name: "create the table and its indexes", SQL: sc.render(sc.legacyClaim, sc.legacyStatus)},
		{Version: 2, Name: "name the indexes to fit in 63 bytes", SQL: pgmigrate.RenameStep(renamed, sc.render(sc.claim, sc.status),
			pgmigrate.DropRenamedIndexes(sqlident.Quote(sc.table), [][2]string{{sc.legacyClaim, sc.claim}, {sc.legacyStatus, sc.status}}))},
	})
}
