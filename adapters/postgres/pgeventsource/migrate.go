package pgeventsource

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglock"
	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
)

// Migration is one versioned step of the schema: its Version, a Name
// saying what it does, and its SQL (see Migrations).
type Migration = pgmigrate.Migration

// schemaSQL is step 1.
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
//  1. create the events and snapshots tables and the position sequence
//     (as the release before versioned migrations did, which Migrate thus
//     adopts: events and snapshots kept), and create or replace the
//     append, in-flight and probe functions (replacing that release's).
func Migrations(cfg Config) ([]Migration, error) { return sqlmigrate.Of(newSchema(cfg)) }

// Migrate brings the schema to the latest version: it runs the steps of
// Migrations that the database has not recorded, in order, each in a
// transaction with its record, holding the advisory lock that all bulwark
// migrations take, so it is safe to run at every start from several
// processes at once. A database migrated by a later release is left as it
// is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	return pgmigrate.Run(ctx, s.pool, "pgeventsource", s.table, s.migrations)
}

// schema is a store's configuration with its defaults filled in and the
// names (without schema) of the sequence and functions named after
// Config.EventsTable, in its schema.
type schema struct {
	cfg                               Config
	sequence, append, inflight, probe string
}

func newSchema(cfg Config) (schema, error) {
	d := DefaultConfig()
	if cfg.EventsTable == "" {
		cfg.EventsTable = d.EventsTable
	}
	if cfg.SnapshotsTable == "" {
		cfg.SnapshotsTable = d.SnapshotsTable
	}
	if cfg.Channel == "" {
		cfg.Channel = d.Channel
	}
	n := sqlident.NewNames("pgeventsource", sqlident.Postgres)
	n.Table("EventsTable", cfg.EventsTable)
	n.Table("SnapshotsTable", cfg.SnapshotsTable)
	if err := n.Err(); err != nil {
		return schema{}, err
	}
	if err := sqlident.Check("pgeventsource: Config.Channel", cfg.Channel); err != nil || strings.Contains(cfg.Channel, ".") {
		return schema{}, fmt.Errorf("pgeventsource: Config.Channel must be letters, digits and underscores, got %q", cfg.Channel)
	}
	sc := schema{
		cfg:      cfg,
		sequence: n.Derived("EventsTable", cfg.EventsTable, "position"),
		append:   n.Derived("EventsTable", cfg.EventsTable, "append"),
		inflight: n.Derived("EventsTable", cfg.EventsTable, "inflight"),
		probe:    n.Derived("EventsTable", cfg.EventsTable, "probe"),
	}
	return sc, n.Err()
}

// qualified returns name in the events table's schema.
func (sc schema) qualified(name string) string {
	s, _ := sqlident.Split(sc.cfg.EventsTable)
	return sqlident.Qualify(s, name)
}

func (sc schema) Migrations() []Migration {
	inflight := sqlident.Quote(sc.qualified(sc.inflight))
	r := strings.NewReplacer(
		"{{events}}", sqlident.Quote(sc.cfg.EventsTable),
		"{{sequence}}", sqlident.Quote(sc.qualified(sc.sequence)),
		"{{snapshots}}", sqlident.Quote(sc.cfg.SnapshotsTable),
		"{{append}}", sqlident.Quote(sc.qualified(sc.append)),
		"{{inflight}}", inflight,
		"{{probe}}", sqlident.Quote(sc.qualified(sc.probe)),
		"{{channel}}", pgmigrate.Literal(sc.cfg.Channel),
		"{{stream_lock}}", pglock.EventStream,
		"{{window_lock}}", pglock.PositionWindow,
		"{{inflight_position}}", pglock.InFlightPosition,
		"{{inflight_first}}", pglock.InFlight(inflight, "first"),
		"{{inflight_p}}", pglock.InFlight(inflight, "p"),
	)
	return pgmigrate.Build("pgeventsource", sc.cfg.EventsTable, []Migration{
		{Version: 1, Name: "create the tables and sequence, create or replace the functions", SQL: r.Replace(schemaSQL)},
	})
}
