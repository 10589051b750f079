package sqliteeventsource

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
// bulwark_migrations of Config.EventsTable's schema, so a later Migrate
// finds it done and runs only newer steps; every statement in it is
// idempotent, so running a step again changes nothing.
//
//  1. create the events and snapshots tables (as the release before
//     versioned migrations did, which Migrate thus adopts, events and
//     snapshots kept).
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
	if err := sqlitemigrate.Run(ctx, s.db, "sqliteeventsource", s.table, s.migrations); err != nil {
		return fmt.Errorf("sqliteeventsource: migrating: %w", err)
	}
	return nil
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

func (sc schema) migrations() []Migration {
	body := strings.NewReplacer("{{events}}", sqlident.Quote(sc.cfg.EventsTable), "{{snapshots}}", sqlident.Quote(sc.cfg.SnapshotsTable)).Replace(schemaSQL)
	return sqlitemigrate.Build("sqliteeventsource", sc.cfg.EventsTable, []Migration{
		{Version: 1, Name: "create the events and snapshots tables", SQL: body},
	})
}
