package pgsaga_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate/sqlmigratetest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FuzzNew: New either refuses a Config with an error that names the package,
// as Migrations does for the same Config, or makes a Store; it never panics,
// whatever the table names.
func FuzzNew(f *testing.F) {
	for _, seed := range [][1]string{{""}, {"t"}, {"s.t"}, {"a-b"}, {"a.b.c"}, {"t\x00"}, {"\""}, {"'"}, {strings.Repeat("x", 80)}} {
		f.Add(seed[0])
	}
	db := &pgxpool.Pool{}
	f.Fuzz(func(t *testing.T, table string) {
		cfg := pgsaga.Config{Table: table}
		s, err := pgsaga.New(db, cfg)
		m, merr := pgsaga.Migrations(cfg)
		sqlmigratetest.CheckNew(t, "pgsaga", s, err, m, merr)
	})
}
