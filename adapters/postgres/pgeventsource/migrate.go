package pgeventsource

import (
	"context"
	_ "embed"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglock"
	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Migration is one versioned step of the store's schema: its Version (1,
// 2, …), a Name saying what it does, and its SQL with the configured
// names, which also creates the migrations table if it is missing and
// records the step in it.
type Migration = pgmigrate.Migration

// schemaSQL is step 1.
//
//go:embed schema.sql
var schemaSQL string

// Migrations returns the steps that Migrate runs for a store configured by
// cfg, in order, with cfg's names in their SQL, or the error New returns
// for cfg. For teams that run migrations with a tool of their own (goose,
// atlas, psql): run each step's SQL once, in order of Version, in a
// transaction. Each step records itself in the table bulwark_migrations of
// Config.EventsTable's schema, so a later Migrate finds it done and runs
// only newer steps; every statement in it is idempotent, so running a step
// again changes nothing.
//
//  1. create the events and snapshots tables and the position sequence
//     (as the release before versioned migrations did, which Migrate thus
//     adopts: events and snapshots kept), and create or replace the
//     append, in-flight and probe functions (replacing that release's).
func Migrations(cfg Config) ([]Migration, error) {
	sc, err := newSchema(cfg)
	if err != nil {
		return nil, err
	}
	return sc.migrations(), nil
}

// Migrate brings the store's schema to the latest version: it runs the
// steps of Migrations that the database has not recorded, in order, each
// in a transaction with its record, holding the advisory lock all bulwark
// migrations take. It is safe to run at every start, from several
// processes at once: all but one wait, then find the steps done. A
// database migrated by a later release is left as it is.
func (s *Store) Migrate(ctx context.Context) error {
	s.check()
	if err := pgmigrate.Run(ctx, s.pool, "pgeventsource", s.table, s.migrations); err != nil {
		return fmt.Errorf("pgeventsource: migrating: %w", err)
	}
	return nil
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

func (sc schema) migrations() []Migration {
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
