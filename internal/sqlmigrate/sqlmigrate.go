// Package sqlmigrate builds the versioned migration steps of bulwark's SQL
// stores, for every dialect: each step is numbered, named, and its SQL
// creates the migrations table if it is missing, makes the step's changes
// and records the step, so that a migration tool running the SQL records
// it exactly as the store's Migrate does. Running the steps is the
// dialect's (adapters/postgres/internal/pgmigrate,
// adapters/sqlite/internal/sqlitemigrate).
package sqlmigrate

import (
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Table is the name of the migrations table, one per schema: one row per
// applied step, keyed by the store's kind ("pgoutbox"), the name of its
// table without the schema, and the step's version.
const Table = "bulwark_migrations"

// Migration is one versioned step of a store's schema, with the configured
// names in its SQL.
type Migration struct {
	// Version numbers the store's steps from 1 up. Migrate applies the
	// steps above the highest version recorded, in order.
	Version int
	// Name says in a few words what the step does.
	Name string
	// SQL is the whole step: it creates the migrations table if it is
	// missing, makes the step's changes and records the step with an
	// INSERT ... ON CONFLICT DO NOTHING. Run it in one transaction. Every
	// statement is idempotent: a step run twice changes nothing.
	SQL string
}

// Build returns the migrations of the store of kind whose table is table
// (as configured, already checked by sqlident): steps with their SQL
// wrapped so that each first runs createTable (the dialect's CREATE TABLE
// IF NOT EXISTS of the migrations table, named by the placeholder
// {{migrations}}) and last records itself. steps hold each step's version,
// name and body, with the configured names in place. Build panics unless
// steps are numbered 1, 2, …: they are fixed in the store's code.
func Build(kind, table, createTable string, steps []Migration) []Migration {
	schema, base := sqlident.Split(table)
	migrations := sqlident.Quote(sqlident.Qualify(schema, Table))
	out := make([]Migration, len(steps))
	for i, s := range steps {
		if s.Version != i+1 {
			panic(fmt.Sprintf("sqlmigrate: %s step %d has version %d", kind, i+1, s.Version))
		}
		var b strings.Builder
		fmt.Fprintf(&b, "-- bulwark %s, version %d: %s.\n", kind, s.Version, s.Name)
		b.WriteString(strings.ReplaceAll(createTable, "{{migrations}}", migrations))
		b.WriteString("\n")
		b.WriteString(strings.TrimSpace(s.SQL))
		fmt.Fprintf(&b, "\n\nINSERT INTO %s (store, table_name, version, name)\nVALUES (%s, %s, %d, %s)\nON CONFLICT DO NOTHING;\n",
			migrations, Literal(kind), Literal(base), s.Version, Literal(s.Name))
		out[i] = Migration{Version: s.Version, Name: s.Name, SQL: b.String()}
	}
	return out
}

// Schema is a store's configuration checked, with its defaults filled in
// and its names derived: all that its migrations are built from.
type Schema interface {
	// Migrations returns the store's steps, built by the dialect's Build.
	Migrations() []Migration
}

// Of returns the migrations of sc, or err when it is not nil, so that a
// store's Migrations(cfg) is Of(newSchema(cfg)) with newSchema the check
// New makes of cfg.
func Of[S Schema](sc S, err error) ([]Migration, error) {
	if err != nil {
		return nil, err
	}
	return sc.Migrations(), nil
}

// Next returns the first of migrations above version, and false when there
// is none (all applied, or the database is at a later version).
func Next(migrations []Migration, version int) (Migration, bool) {
	for _, m := range migrations {
		if m.Version > version {
			return m, true
		}
	}
	return Migration{}, false
}

// Literal quotes s as an SQL string literal.
func Literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
