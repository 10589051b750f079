package sqliteeventsource_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate/sqlmigratetest"
)

// FuzzNew: New either refuses a Config with an error that names the package,
// as Migrations does for the same Config, or makes a Store; it never panics,
// whatever the table names.
func FuzzNew(f *testing.F) {
	for _, seed := range [][2]string{{"", ""}, {"e", "s"}, {"x", "x"}, {"s.e", "s.s"}, {"a-b", ""}, {"a.b.c", ""}, {"e\x00", "s"}, {"\"", "'"}, {strings.Repeat("x", 80), ""}} {
		f.Add(seed[0], seed[1])
	}
	db := &sql.DB{}
	f.Fuzz(func(t *testing.T, events, snapshots string) {
		cfg := sqliteeventsource.Config{EventsTable: events, SnapshotsTable: snapshots}
		s, err := sqliteeventsource.New(db, cfg)
		m, merr := sqliteeventsource.Migrations(cfg)
		sqlmigratetest.CheckNew(t, "sqliteeventsource", s, err, m, merr)
	})
}
