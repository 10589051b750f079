// Package pgmigrate runs the versioned schema migrations of bulwark's
// PostgreSQL stores and renders them for migration tools.
//
// Each store has numbered steps (1, 2, …), applied in order and each once,
// forward only. A step's SQL creates the migrations table if it is
// missing, makes the step's changes and records the step in the
// migrations table, so that its SQL run by a migration tool (goose, atlas,
// psql) records it exactly as Run does. Every statement of a step is
// idempotent, so a step that runs again changes nothing.
//
// The migrations table, Table, lives in the schema of the store's table
// (for an unqualified table, the schema unqualified names are created in:
// the first schema of search_path), one row per applied step, keyed by
// the store's kind ("pgoutbox") and the name of its table without the
// schema. The stores of one schema share it.
package pgmigrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglock"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
	"github.com/jackc/pgx/v5"
)

// Table is the name of the migrations table.
const Table = sqlmigrate.Table

// Migration is one versioned step of a store's schema, with the configured
// names in its SQL (see sqlmigrate.Migration).
type Migration = sqlmigrate.Migration

// Build returns the migrations of the store of kind whose table is table
// (see sqlmigrate.Build), with PostgreSQL's migrations table.
func Build(kind, table string, steps []Migration) []Migration {
	return sqlmigrate.Build(kind, table, createTable, steps)
}

const createTable = `-- Applied migrations of bulwark's stores in this schema.
CREATE TABLE IF NOT EXISTS {{migrations}} (
	store      text        NOT NULL, -- the store's kind: pgoutbox, pgsaga, ...
	table_name text        NOT NULL, -- the store's table, without its schema
	version    integer     NOT NULL,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (store, table_name, version)
);
`

// Literal quotes s as an SQL string literal.
func Literal(s string) string { return sqlmigrate.Literal(s) }

// DB is what Run needs of a connection: *pgxpool.Pool and *pgx.Conn have
// it.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Run applies the migrations of the store of kind whose table is table
// that are above the highest version recorded for it, in order, each in a
// transaction of its own that first takes the advisory lock
// pglock.Migrate, so that any number of processes may run it at once: the
// first applies a step, the others then find it recorded. A database
// whose recorded version is above the last of migrations (migrated by a
// later release) is left as it is. Nothing is written when every step is
// recorded. Errors start with kind + ": migrating: ".
func Run(ctx context.Context, db DB, kind, table string, migrations []Migration) error {
	for {
		done, err := runNext(ctx, db, kind, table, migrations)
		if err != nil {
			return fmt.Errorf("%s: migrating: %w", kind, err)
		}
		if done {
			return nil
		}
	}
}

// runNext applies the first migration not recorded yet and reports whether
// there was none.
func runNext(ctx context.Context, db DB, kind, table string, migrations []Migration) (done bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", pglock.Migrate); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		// A backend learns of catalog changes committed by others only at
		// the start of a transaction or when it takes a lock on a relation;
		// an advisory lock is neither. Without this, a backend that began
		// its transaction while another was applying a step could still
		// see the migrations table (or a table a step created) as missing
		// from its catalog cache after the lock was handed over, and apply
		// the step again: "relation already exists".
		if _, err := tx.Exec(ctx, "LOCK TABLE pg_catalog.pg_class IN ACCESS SHARE MODE"); err != nil {
			return fmt.Errorf("refreshing the catalog after the migration lock: %w", err)
		}
		version, err := Version(ctx, tx, kind, table)
		if err != nil {
			return err
		}
		if m, ok := sqlmigrate.Next(migrations, version); ok {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("version %d (%s): %w", m.Version, m.Name, err)
			}
			return nil
		}
		done = true
		return nil
	})
	return done, err
}

// Version returns the highest version recorded for the store of kind
// whose table is table, 0 when none is (or there is no migrations table).
func Version(ctx context.Context, tx pgx.Tx, kind, table string) (int, error) {
	schema, base := sqlident.Split(table)
	if schema == "" {
		var current *string
		if err := tx.QueryRow(ctx, "SELECT current_schema()").Scan(&current); err != nil {
			return 0, fmt.Errorf("finding the schema of %s: %w", base, err)
		}
		if current == nil {
			return 0, fmt.Errorf("finding the schema of %s: no schema of search_path exists", base)
		}
		schema = *current
	}
	migrations := pgx.Identifier{schema, Table}.Sanitize()
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", migrations).Scan(&exists); err != nil {
		return 0, fmt.Errorf("looking for %s: %w", migrations, err)
	}
	if !exists {
		return 0, nil
	}
	var version int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+migrations+" WHERE store = $1 AND table_name = $2",
		kind, base).Scan(&version); err != nil {
		return 0, fmt.Errorf("reading %s: %w", migrations, err)
	}
	return version, nil
}

// Cut returns name as PostgreSQL keeps it: its first 63 bytes. The names a
// previous release derived from long table names were cut this way.
func Cut(name string) string {
	if len(name) > sqlident.MaxPostgres {
		return name[:sqlident.MaxPostgres]
	}
	return name
}

// RenameStep returns the body of the step that gives the objects a store
// derives from its table names the names sqlident's rule gives them now,
// where PostgreSQL cut the names a previous release derived: when changed,
// the store's first step rendered with the new names (rendered: it
// creates what PostgreSQL skipped under cut names, and leaves what
// exists), then drops, the statements that drop what was left under cut
// names. Otherwise, a comment saying that there is nothing to do.
func RenameStep(changed bool, rendered string, drops ...string) string {
	if !changed {
		return "-- Every name derived from the table names fits in 63 bytes: nothing to rename."
	}
	return "-- Step 1 under names that fit in 63 bytes (creating what PostgreSQL\n" +
		"-- skipped under the names it cut), then what was left under cut names\n" +
		"-- dropped.\n" + strings.TrimSpace(rendered) + "\n\n" + strings.Join(drops, "")
}

// DropRenamedIndexes returns SQL that drops the indexes a previous
// release made on table (quoted) under names PostgreSQL had cut, once the
// same indexes exist under their new names. Each pair of renames holds an
// index's name as the previous release derived it (uncut) and its name
// now; only the pairs that differ are dropped, by their cut names, and
// only if they are indexes of table that back no constraint and bear none
// of the new names. It returns "" when no pair differs.
func DropRenamedIndexes(table string, renames [][2]string) string {
	var old, keep []string
	for _, r := range renames {
		keep = append(keep, Literal(r[1]))
		if r[0] != r[1] {
			old = append(old, Literal(Cut(r[0])))
		}
	}
	if len(old) == 0 {
		return ""
	}
	return fmt.Sprintf(`DO $migrate$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT n.nspname, c.relname
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE i.indrelid = %s::regclass AND c.relname IN (%s) AND c.relname NOT IN (%s)
			AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid)
	LOOP
		EXECUTE format('DROP INDEX %%I.%%I', r.nspname, r.relname);
	END LOOP;
END
$migrate$;
`, Literal(table), strings.Join(old, ", "), strings.Join(keep, ", "))
}
