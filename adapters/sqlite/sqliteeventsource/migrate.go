package sqliteeventsource

import (
	"context"
	_ "embed"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
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
//  1. create the events and snapshots tables (as the release before
//     versioned migrations did, which Migrate thus adopts, events and
//     snapshots kept).
func Migrations(cfg Config) ([]Migration, error) { return sqlmigrate.Of(newSchema(cfg)) }

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a write
// transaction (BEGIN IMMEDIATE) with its record, so it is safe to run at
// every start from several processes sharing the file at once. A database
// migrated by a later release is left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return sqlitemigrate.Run(ctx, s.db, "sqliteeventsource", s.table, s.migrations)
}

// schema is a store's configuration with its defaults filled in.
type schema struct{ cfg Config }

func newSchema(cfg Config) (schema, error) {
	d := DefaultConfig()
	if cfg.EventsTable == "" {
		cfg.EventsTable = d.EventsTable
	}
	if cfg.SnapshotsTable == "" {
		cfg.SnapshotsTable = d.SnapshotsTable
	}
	n := sqlident.NewNames("sqliteeventsource", sqlident.SQLite)
	n.Table("EventsTable", cfg.EventsTable)
	n.Table("SnapshotsTable", cfg.SnapshotsTable)
	return schema{cfg: cfg}, n.Err()
}

func (sc schema) Migrations() []Migration {
	body := strings.NewReplacer("{{events}}", sqlident.Quote(sc.cfg.EventsTable), "{{snapshots}}", sqlident.Quote(sc.cfg.SnapshotsTable)).Replace(schemaSQL)
	return sqlitemigrate.Build("sqliteeventsource", sc.cfg.EventsTable, []Migration{
		{Version: 1, Name: "create the events and snapshots tables", SQL: body},
	})
}
