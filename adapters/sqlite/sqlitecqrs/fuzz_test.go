package sqlitecqrs_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/internal/sqlmigrate/sqlmigratetest"
)

// FuzzNew: New either refuses a Config with an error that names the package,
// as Migrations does for the same Config, or makes a Store; it never panics,
// whatever the table names.
func FuzzNew(f *testing.F) {
	for _, seed := range [][1]string{{""}, {"t"}, {"s.t"}, {"a-b"}, {"a.b.c"}, {"t\x00"}, {"\""}, {"'"}, {strings.Repeat("x", 80)}} {
		f.Add(seed[0])
	}
	db := &sql.DB{}
	f.Fuzz(func(t *testing.T, table string) {
		cfg := sqlitecqrs.Config{Table: table}
		s, err := sqlitecqrs.New(db, cfg)
		m, merr := sqlitecqrs.Migrations(cfg)
		sqlmigratetest.CheckNew(t, "sqlitecqrs", s, err, m, merr)
	})
}
