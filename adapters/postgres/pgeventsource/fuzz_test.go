package pgeventsource_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate/sqlmigratetest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FuzzNew: New either refuses a Config with an error that names the package,
// as Migrations does for the same Config, or makes a Store; it never panics,
// whatever the table names.
func FuzzNew(f *testing.F) {
	for _, seed := range [][3]string{{"", "", ""}, {"e", "s", "ch"}, {"x", "x", ""}, {"s.e", "s.s", ""}, {"a-b", "", ""}, {"e", "s", "a.b"}, {"e\x00", "s", "c"}, {"\"", "'", "$$"}, {strings.Repeat("x", 80), "", ""}} {
		f.Add(seed[0], seed[1], seed[2])
	}
	db := &pgxpool.Pool{}
	f.Fuzz(func(t *testing.T, events, snapshots, channel string) {
		cfg := pgeventsource.Config{EventsTable: events, SnapshotsTable: snapshots, Channel: channel}
		s, err := pgeventsource.New(db, cfg)
		m, merr := pgeventsource.Migrations(cfg)
		sqlmigratetest.CheckNew(t, "pgeventsource", s, err, m, merr)
	})
}
