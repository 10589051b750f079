package pgtest

import (
	"context"
	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Querier is what the catalog helpers need of a connection.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Indexes returns the indexes of table ("name" through the connection's
// search_path, or "schema.name") as their definitions without their names
// or the table's ("UNIQUE btree (key, seq) WHERE ..."), sorted, so that
// the indexes of two tables made by one store can be compared.
func Indexes(t testing.TB, db Querier, table string) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT i.indisunique, pg_get_indexdef(i.indexrelid)
		FROM pg_index i WHERE i.indrelid = $1::regclass`, quote(table))
	if err != nil {
		t.Fatalf("pgtest: listing the indexes of %s: %v", table, err)
	}
	defs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var unique bool
		var def string
		err := r.Scan(&unique, &def)
		_, def, _ = strings.Cut(def, " USING ")
		if unique {
			def = "UNIQUE " + def
		}
		return def, err
	})
	if err != nil {
		t.Fatalf("pgtest: listing the indexes of %s: %v", table, err)
	}
	slices.Sort(defs)
	return defs
}

// Triggers returns the number of triggers on table (not counting the
// internal ones of constraints).
func Triggers(t testing.TB, db Querier, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM pg_trigger
		WHERE tgrelid = $1::regclass AND NOT tgisinternal`, quote(table)).Scan(&n); err != nil {
		t.Fatalf("pgtest: counting the triggers of %s: %v", table, err)
	}
	return n
}

// quote quotes each part of a table name for a regclass literal.
func quote(table string) string {
	return pgx.Identifier(strings.Split(table, ".")).Sanitize()
}

// Functions returns the number of functions in schema.
func Functions(t testing.TB, db Querier, schema string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM pg_proc WHERE pronamespace = $1::regnamespace`,
		pgx.Identifier{schema}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("pgtest: counting the functions of %s: %v", schema, err)
	}
	return n
}

// Version returns the highest migration version recorded for the store of
// kind whose table is table (see pgmigrate.Version).
func Version(t testing.TB, db pgmigrate.DB, kind, table string) int {
	t.Helper()
	var v int
	err := pgx.BeginFunc(context.Background(), db, func(tx pgx.Tx) (err error) {
		v, err = pgmigrate.Version(context.Background(), tx, kind, table)
		return err
	})
	if err != nil {
		t.Fatalf("pgtest: reading the migration version of %s: %v", table, err)
	}
	return v
}

// AdvisoryLocks returns the advisory locks the backend pid holds, as
// "int8 <key>" for a lock on one int8 key and "int4 <key1> <key2>" for one
// on two int4 keys, sorted.
func AdvisoryLocks(t testing.TB, db Querier, pid uint32) []string {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT CASE objsubid
			WHEN 1 THEN 'int8 ' || ((classid::int8 << 32) | objid::int8)
			ELSE 'int4 ' || classid::int4 || ' ' || objid::int4 END
		FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = $1 ORDER BY 1`, int64(pid))
	if err != nil {
		t.Fatalf("pgtest: listing the advisory locks of %d: %v", pid, err)
	}
	locks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("pgtest: listing the advisory locks of %d: %v", pid, err)
	}
	return locks
}
