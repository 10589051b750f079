package sqlitecqrs_test

import (
	"strings"
	"testing"

	"database/sql"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "sqlitecqrs: "), err.Error())
			assert.Equal(t, err, merr, "Migrations refuses what New refuses")
			return
		}
		require.NoError(t, merr)
		assert.NotNil(t, s)
		assert.NotEmpty(t, m)
	})
}
