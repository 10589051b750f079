package sqlitetest

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Migrator is a store: Migrate makes or upgrades its schema.
type Migrator interface {
	Migrate(ctx context.Context) error
}

// Migrated returns the store newStore makes on db with cfg, migrated. It
// fails the test when New or Migrate fails.
func Migrated[S Migrator, C any](t testing.TB, newStore func(*sql.DB, C) (S, error), db *sql.DB, cfg C) S {
	t.Helper()
	s, err := newStore(db, cfg)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

// MigrateConcurrently migrates n stores made by newStore with cfg at
// once, each on a database handle of its own on the file at path opened
// by sqlite.Open (as processes sharing the file do), then the first once
// more, as a later restart does; every New and Migrate must succeed.
func MigrateConcurrently[S Migrator, C any](t testing.TB, path string, n int, newStore func(*sql.DB, C) (S, error), cfg C) {
	t.Helper()
	stores := make([]S, n)
	for i := range stores {
		db, err := sqlite.Open(context.Background(), path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		stores[i], err = newStore(db, cfg)
		require.NoError(t, err)
	}
	errs := make(chan error, n)
	for _, s := range stores {
		go func() { errs <- s.Migrate(context.Background()) }()
	}
	for range n {
		require.NoError(t, <-errs, "a concurrent Migrate")
	}
	require.NoError(t, stores[0].Migrate(context.Background()), "Migrate run again")
}

// Previous returns the path of a new database file and a handle on it
// (see OpenPath) holding the schema a release before versioned migrations
// made: schema, its SQL, with each pair of replacements (placeholder,
// quoted name) in place.
func Previous(t testing.TB, schema string, replacements ...string) (string, *sql.DB) {
	t.Helper()
	path := Path(t)
	db := OpenPath(t, path)
	_, err := db.Exec(strings.NewReplacer(replacements...).Replace(schema))
	require.NoError(t, err)
	return path, db
}

// Upgrade migrates the database file at path, made by Previous and
// filled by the test as that release left it, from three processes at
// once (see MigrateConcurrently), checks that the store of kind whose
// table is table has recorded the steps up to version, and returns a
// store newStore makes on db with cfg.
func Upgrade[S Migrator, C any](t testing.TB, path string, db *sql.DB, newStore func(*sql.DB, C) (S, error), cfg C, kind, table string, version int) S {
	t.Helper()
	MigrateConcurrently(t, path, 3, newStore, cfg)
	assert.Equal(t, version, Version(t, db, kind, table))
	s, err := newStore(db, cfg)
	require.NoError(t, err)
	return s
}

// LongestTableName checks a store of one table, configured by config,
// with the table named at the longest length New accepts (63 bytes),
// alone and in an attached database: Migrate makes the indexes (n of
// them) that it makes for the default name def, and use works with the
// store.
func LongestTableName[S Migrator, C any](t *testing.T, newStore func(*sql.DB, C) (S, error), config func(table string) C, def string, n int, use func(S)) {
	t.Helper()
	ref := Open(t)
	Migrated(t, newStore, ref, config(""))
	want := Indexes(t, ref, def)
	require.Len(t, want, n)
	table := strings.Repeat(def[:1], 63)
	for _, qualified := range []string{table, "app." + table} {
		db := Attached(t)
		s := Migrated(t, newStore, db, config(qualified))
		assert.Equal(t, want, Indexes(t, db, qualified), qualified)
		use(s)
	}
}
