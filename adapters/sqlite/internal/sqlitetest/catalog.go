package sqlitetest

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/internal/sqlident"
)

// Indexes returns the indexes of table ("name" in main, or "schema.name")
// as their definitions without their names or the table's ("(key, seq)
// WHERE ..."; "auto (scope, key)" for those SQLite makes for a primary key
// or a unique constraint), sorted, so that the indexes of two tables made
// by one store can be compared.
func Indexes(t testing.TB, db *sql.DB, table string) []string {
	t.Helper()
	schema, base := sqlident.Split(table)
	if schema == "" {
		schema = "main"
	}
	rows, err := db.Query(`SELECT name, sql FROM `+sqlident.Quote(schema)+`.sqlite_master WHERE type = 'index' AND tbl_name = ?`, base)
	if err != nil {
		t.Fatalf("sqlitetest: listing the indexes of %s: %v", table, err)
	}
	type index struct {
		name string
		sql  sql.NullString
	}
	var indexes []index
	for rows.Next() {
		var i index
		if err := rows.Scan(&i.name, &i.sql); err != nil {
			t.Fatalf("sqlitetest: listing the indexes of %s: %v", table, err)
		}
		indexes = append(indexes, i)
	}
	if err := rows.Close(); err != nil {
		t.Fatalf("sqlitetest: listing the indexes of %s: %v", table, err)
	}
	var defs []string
	for _, i := range indexes {
		if i.sql.Valid {
			defs = append(defs, i.sql.String[strings.Index(i.sql.String, "("):])
			continue
		}
		var cols string
		if err := db.QueryRow(`SELECT group_concat(name, ', ') FROM pragma_index_info(?, ?)`, i.name, schema).Scan(&cols); err != nil {
			t.Fatalf("sqlitetest: reading index %s: %v", i.name, err)
		}
		defs = append(defs, "auto ("+cols+")")
	}
	slices.Sort(defs)
	return defs
}

// Version returns the highest migration version recorded for the store of
// kind whose table is table (see sqlitemigrate.Version).
func Version(t testing.TB, db *sql.DB, kind, table string) int {
	t.Helper()
	v, err := sqlitemigrate.Version(context.Background(), db, kind, table)
	if err != nil {
		t.Fatalf("sqlitetest: reading the migration version of %s: %v", table, err)
	}
	return v
}

// MigrateConcurrently runs migrate from n goroutines at once, each with a
// database handle of its own on the file at path opened by sqlite.Open (as
// processes sharing the file do), then once more, as a later restart does;
// every run must succeed.
func MigrateConcurrently(t testing.TB, path string, n int, migrate func(context.Context, *sql.DB) error) {
	t.Helper()
	dbs := make([]*sql.DB, n)
	for i := range dbs {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("sqlitetest: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	errs := make(chan error, n)
	for _, db := range dbs {
		go func() { errs <- migrate(context.Background(), db) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("sqlitetest: a concurrent Migrate failed: %v", err)
		}
	}
	if err := migrate(context.Background(), dbs[0]); err != nil {
		t.Fatalf("sqlitetest: Migrate run again failed: %v", err)
	}
}
