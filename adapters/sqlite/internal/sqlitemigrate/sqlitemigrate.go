// Package sqlitemigrate runs the versioned schema migrations of bulwark's
// SQLite stores and renders them for migration tools.
//
// Each store has numbered steps (1, 2, …), applied in order and each once,
// forward only. A step's SQL creates the migrations table if it is
// missing, makes the step's changes and records the step in the
// migrations table, so that its SQL run by a migration tool (goose, atlas,
// the sqlite3 shell) records it exactly as Run does. Every statement of a
// step is idempotent, so a step that runs again changes nothing.
//
// The migrations table, Table, lives in the schema (main, or an attached
// database) of the store's table, one row per applied step, keyed by the
// store's kind ("sqliteoutbox") and the name of its table without the
// schema. The stores of one database file share it.
package sqlitemigrate

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
)

// Table is the name of the migrations table.
const Table = sqlmigrate.Table

// Migration is one versioned step of a store's schema, with the configured
// names in its SQL (see sqlmigrate.Migration).
type Migration = sqlmigrate.Migration

// Build returns the migrations of the store of kind whose table is table
// (see sqlmigrate.Build), with SQLite's migrations table.
func Build(kind, table string, steps []Migration) []Migration {
	return sqlmigrate.Build(kind, table, createTable, steps)
}

const createTable = `-- Applied migrations of bulwark's stores in this database.
CREATE TABLE IF NOT EXISTS {{migrations}} (
	store      TEXT    NOT NULL, -- the store's kind: sqliteoutbox, sqlitesaga, ...
	table_name TEXT    NOT NULL, -- the store's table, without its schema
	version    INTEGER NOT NULL,
	name       TEXT    NOT NULL,
	applied_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (store, table_name, version)
) WITHOUT ROWID;
`

// Run applies the migrations of the store of kind whose table is table
// that are above the highest version recorded for it, in order, each in a
// write transaction of its own (BEGIN IMMEDIATE, on one connection of db),
// so that any number of processes sharing the file may run it at once:
// SQLite lets one writer in at a time (the others wait up to the busy
// timeout of db, which adapters/sqlite.Open sets), and the later ones find
// the step recorded. A database whose recorded version is above the last
// of migrations (migrated by a later release) is left as it is. Nothing is
// written when every step is recorded. Errors start with kind + ":
// migrating: ".
func Run(ctx context.Context, db *sql.DB, kind, table string, migrations []Migration) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrating: %w", kind, err)
	}
	defer conn.Close()
	for {
		done, err := runNext(ctx, conn, kind, table, migrations)
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
func runNext(ctx context.Context, conn *sql.Conn, kind, table string, migrations []Migration) (done bool, err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, fmt.Errorf("beginning a write transaction: %w", err)
	}
	defer func() {
		end := "COMMIT"
		if err != nil {
			end = "ROLLBACK"
		}
		if _, endErr := conn.ExecContext(context.WithoutCancel(ctx), end); endErr != nil && err == nil {
			err = fmt.Errorf("committing: %w", endErr)
		}
	}()
	version, err := Version(ctx, conn, kind, table)
	if err != nil {
		return false, err
	}
	if m, ok := sqlmigrate.Next(migrations, version); ok {
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return false, fmt.Errorf("version %d (%s): %w", m.Version, m.Name, err)
		}
		return false, nil
	}
	return true, nil
}

// Querier is what Version needs: *sql.DB, *sql.Conn and *sql.Tx have it.
type Querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Version returns the highest version recorded for the store of kind
// whose table is table, 0 when none is (or there is no migrations table).
func Version(ctx context.Context, db Querier, kind, table string) (int, error) {
	schema, base := sqlident.Split(table)
	if schema == "" {
		schema = "main"
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+sqlident.Quote(schema)+".sqlite_master WHERE type = 'table' AND name = ?",
		Table).Scan(&n); err != nil {
		return 0, fmt.Errorf("looking for %s: %w", Table, err)
	}
	if n == 0 {
		return 0, nil
	}
	var version int
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM "+sqlident.Quote(schema+"."+Table)+
		" WHERE store = ? AND table_name = ?", kind, base).Scan(&version); err != nil {
		return 0, fmt.Errorf("reading %s: %w", Table, err)
	}
	return version, nil
}
