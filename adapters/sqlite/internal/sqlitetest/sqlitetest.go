// Package sqlitetest opens a fresh SQLite database file per test.
package sqlitetest

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
)

// Path returns the path of a new database file in the test's temporary
// directory, for tests that open it from several processes.
func Path(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "test.db")
}

// Open opens a new database with sqlite.Open, closed when the test ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	return OpenPath(t, Path(t))
}

// OpenPath opens the database file at path with sqlite.Open, closed when
// the test ends.
func OpenPath(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("sqlitetest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Attached opens a new database (see Open) with a second one attached as
// "app", on one connection, so that the attachment holds for every
// statement: tables named "app.name" live in it.
func Attached(t testing.TB) *sql.DB {
	t.Helper()
	db := Open(t)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`ATTACH DATABASE ? AS app`, filepath.Join(t.TempDir(), "app.db")); err != nil {
		t.Fatalf("sqlitetest: attaching: %v", err)
	}
	return db
}
