package sqlitetest

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

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
