package sqlitemigrate_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitemigrate"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// steps are not idempotent on purpose: each appends a row to runs, so a
// step run twice shows.
func steps(table string) []sqlitemigrate.Migration {
	return sqlitemigrate.Build("test", table, []sqlitemigrate.Migration{
		{Version: 1, Name: "create runs", SQL: "CREATE TABLE " + table + "_runs (version INTEGER); INSERT INTO " + table + "_runs VALUES (1);"},
		{Version: 2, Name: "second", SQL: "INSERT INTO " + table + "_runs VALUES (2);"},
		{Version: 3, Name: "it's third", SQL: "INSERT INTO " + table + "_runs VALUES (3);"},
	})
}

func runs(t *testing.T, db *sql.DB, table string) []int {
	t.Helper()
	rows, err := db.Query("SELECT version FROM " + table + "_runs ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

func version(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	v, err := sqlitemigrate.Version(context.Background(), db, "test", table)
	require.NoError(t, err)
	return v
}

// TestRunAppliesEachStepOnceFromManyProcesses: runs started together, each
// on a database handle of its own (as processes sharing the file), take
// turns on SQLite's write lock; each step runs once and is recorded once.
func TestRunAppliesEachStepOnceFromManyProcesses(t *testing.T) {
	path := sqlitetest.Path(t)
	var dbs []*sql.DB
	for range 6 {
		db, err := sqlite.Open(context.Background(), path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	assert.Equal(t, 0, version(t, dbs[0], "t"), "no migrations table yet")
	var wg sync.WaitGroup
	errs := make(chan error, len(dbs))
	for _, db := range dbs {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- sqlitemigrate.Run(context.Background(), db, "test", "t", steps("t")) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, []int{1, 2, 3}, runs(t, dbs[0], "t"))
	assert.Equal(t, 3, version(t, dbs[0], "t"))
	var names string
	require.NoError(t, dbs[0].QueryRow("SELECT group_concat(name, '|') FROM (SELECT name FROM bulwark_migrations ORDER BY version)").Scan(&names))
	assert.Equal(t, "create runs|second|it's third", names)
}

// TestRunStopsAtAFailedStep: a failing step leaves nothing of itself, not
// even its record, and the steps before it stay applied; a later Run takes
// up from there.
func TestRunStopsAtAFailedStep(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	bad := steps("t")
	good := bad[2].SQL
	bad[2].SQL = "CREATE TABLE half (id INTEGER); INSERT INTO no_such_table VALUES (1);"
	err := sqlitemigrate.Run(ctx, db, "test", "t", bad)
	require.ErrorContains(t, err, "test: migrating: version 3 (it's third)")
	assert.Equal(t, 2, version(t, db, "t"))
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'half'").Scan(&n))
	assert.Zero(t, n, "the failed step's changes were rolled back")
	bad[2].SQL = good
	require.NoError(t, sqlitemigrate.Run(ctx, db, "test", "t", bad))
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))
}

// TestStepsRunByAToolAreNotRunAgain: a step's SQL records itself, so a
// migration tool that ran it leaves nothing for Run; and a database
// recorded at a later version than Run knows is left alone.
func TestStepsRunByAToolAreNotRunAgain(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	for _, m := range steps("t")[:2] {
		_, err := db.Exec(m.SQL)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, version(t, db, "t"))
	require.NoError(t, sqlitemigrate.Run(ctx, db, "test", "t", steps("t")))
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))
	require.NoError(t, sqlitemigrate.Run(ctx, db, "test", "t", steps("t")[:1]), "a later version recorded")
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))
}

// TestRunKeepsTheMigrationsTableInTheTablesSchema: a table in an attached
// database has its migrations recorded there, keyed by its name without
// the schema.
func TestRunKeepsTheMigrationsTableInTheTablesSchema(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.Attached(t)
	require.NoError(t, sqlitemigrate.Run(ctx, db, "test", "app.t", steps("app.t")))
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM app.bulwark_migrations WHERE table_name = 't'").Scan(&n))
	assert.Equal(t, 3, n)
	assert.Equal(t, 0, version(t, db, "t"), "the t of main is another table")
}

func TestBuild(t *testing.T) {
	m := sqlitemigrate.Build("sq", "app.things", []sqlitemigrate.Migration{{Version: 1, Name: "make things", SQL: "CREATE TABLE x (a);"}})
	require.Len(t, m, 1)
	assert.Contains(t, m[0].SQL, `CREATE TABLE IF NOT EXISTS "app"."bulwark_migrations" (`)
	assert.Contains(t, m[0].SQL, "CREATE TABLE x (a);\n\nINSERT INTO \"app\".\"bulwark_migrations\" (store, table_name, version, name)\nVALUES ('sq', 'things', 1, 'make things')\nON CONFLICT DO NOTHING;\n")
	assert.PanicsWithValue(t, "sqlmigrate: sq step 1 has version 2", func() {
		sqlitemigrate.Build("sq", "t", []sqlitemigrate.Migration{{Version: 2}})
	})
}
