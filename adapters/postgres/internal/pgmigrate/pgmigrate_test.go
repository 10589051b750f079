package pgmigrate_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgmigrate"
	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// steps are not idempotent on purpose: each appends a row to runs, so a
// step run twice shows.
func steps(table string) []pgmigrate.Migration {
	return pgmigrate.Build("test", table, []pgmigrate.Migration{
		{Version: 1, Name: "create runs", SQL: "CREATE TABLE " + table + "_runs (version int); INSERT INTO " + table + "_runs VALUES (1);"},
		{Version: 2, Name: "second", SQL: "INSERT INTO " + table + "_runs VALUES (2);"},
		{Version: 3, Name: "it's third", SQL: "INSERT INTO " + table + "_runs VALUES (3);"},
	})
}

func runs(t *testing.T, db *pgxpool.Pool, table string) []int {
	t.Helper()
	rows, err := db.Query(context.Background(), "SELECT version FROM "+table+"_runs ORDER BY version")
	require.NoError(t, err)
	v, err := pgx.CollectRows(rows, pgx.RowTo[int])
	require.NoError(t, err)
	return v
}

func version(t *testing.T, db *pgxpool.Pool, table string) int {
	t.Helper()
	return pgtest.Version(t, db, "test", table)
}

// TestRunAppliesEachStepOnceFromManyProcesses: runs started together take
// turns on the lock; each step runs once and is recorded once.
func TestRunAppliesEachStepOnceFromManyProcesses(t *testing.T) {
	db := pgtest.Pool(t)
	assert.Equal(t, 0, version(t, db, "t"), "no migrations table yet")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- pgmigrate.Run(context.Background(), db, "test", "t", steps("t")) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))
	assert.Equal(t, 3, version(t, db, "t"))
	var names []string
	rows, err := db.Query(context.Background(), "SELECT name FROM bulwark_migrations WHERE store = 'test' AND table_name = 't' ORDER BY version")
	require.NoError(t, err)
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"create runs", "second", "it's third"}, names)
}

// TestRunStopsAtAFailedStep: a failing step leaves nothing of itself, not
// even its record, and the steps before it stay applied; a later Run takes
// up from there.
func TestRunStopsAtAFailedStep(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	bad := steps("t")
	good := bad[2].SQL
	bad[2].SQL = "CREATE TABLE half (id int); SELECT 1/0;"
	err := pgmigrate.Run(ctx, db, "test", "t", bad)
	require.ErrorContains(t, err, "test: migrating: version 3 (it's third)")
	assert.Equal(t, 2, version(t, db, "t"))
	var half *string
	require.NoError(t, db.QueryRow(ctx, "SELECT to_regclass('half')::text").Scan(&half))
	assert.Nil(t, half, "the failed step's changes were rolled back")
	bad[2].SQL = good
	require.NoError(t, pgmigrate.Run(ctx, db, "test", "t", bad))
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))
}

// TestStepsRunByAToolAreNotRunAgain: a step's SQL records itself, so a
// migration tool that ran it leaves nothing for Run.
func TestStepsRunByAToolAreNotRunAgain(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	for _, m := range steps("t")[:2] {
		require.NoError(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, m.SQL); return err }))
	}
	assert.Equal(t, 2, version(t, db, "t"))
	require.NoError(t, pgmigrate.Run(ctx, db, "test", "t", steps("t")))
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))
}

// TestRunLeavesALaterDatabaseAlone: a process of an older release running
// Run on a database migrated by a later one applies nothing, fails
// nothing, and writes nothing when all is recorded (so it runs in a
// read-only transaction).
func TestRunLeavesALaterDatabaseAlone(t *testing.T) {
	_, dsn := pgtest.Schema(t)
	db, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	require.NoError(t, pgmigrate.Run(ctx, db, "test", "t", steps("t")))
	require.NoError(t, pgmigrate.Run(ctx, db, "test", "t", steps("t")[:1]), "a later version recorded")
	assert.Equal(t, []int{1, 2, 3}, runs(t, db, "t"))

	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("default_transaction_read_only", "on")
	u.RawQuery = q.Encode()
	ro, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	t.Cleanup(ro.Close)
	require.NoError(t, pgmigrate.Run(ctx, ro, "test", "t", steps("t")), "nothing to write")
	require.Error(t, pgmigrate.Run(ctx, ro, "test", "u", steps("u")), "the read-only connection cannot migrate")
}

// TestRunKeepsTheMigrationsTableInTheTablesSchema: a schema-qualified
// table has its migrations recorded in its own schema, keyed by its name
// without the schema; an unqualified one in the first schema of
// search_path.
func TestRunKeepsTheMigrationsTableInTheTablesSchema(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	db, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ctx := context.Background()
	_, err = db.Exec(ctx, "CREATE SCHEMA "+schema+"_app")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec(context.Background(), "DROP SCHEMA "+schema+"_app CASCADE") })

	require.NoError(t, pgmigrate.Run(ctx, db, "test", schema+"_app.t", steps(schema+"_app.t")))
	var n int
	require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM "+schema+"_app.bulwark_migrations WHERE table_name = 't'").Scan(&n))
	assert.Equal(t, 3, n)
	assert.Equal(t, 0, version(t, db, "t"), "the unqualified t is another table")
	require.NoError(t, pgmigrate.Run(ctx, db, "test", "t", steps("t")))
	require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM "+schema+".bulwark_migrations").Scan(&n))
	assert.Equal(t, 3, n)
}

func TestBuild(t *testing.T) {
	m := pgmigrate.Build("pgx", "app.things", []pgmigrate.Migration{{Version: 1, Name: "make things", SQL: "\nCREATE TABLE x ();\n"}})
	require.Len(t, m, 1)
	assert.Equal(t, `-- bulwark pgx, version 1: make things.
-- Applied migrations of bulwark's stores in this schema.
CREATE TABLE IF NOT EXISTS "app"."bulwark_migrations" (
	store      text        NOT NULL, -- the store's kind: pgoutbox, pgsaga, ...
	table_name text        NOT NULL, -- the store's table, without its schema
	version    integer     NOT NULL,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (store, table_name, version)
);

CREATE TABLE x ();

INSERT INTO "app"."bulwark_migrations" (store, table_name, version, name)
VALUES ('pgx', 'things', 1, 'make things')
ON CONFLICT DO NOTHING;
`, m[0].SQL)
	assert.PanicsWithValue(t, "sqlmigrate: pgx step 1 has version 2", func() {
		pgmigrate.Build("pgx", "t", []pgmigrate.Migration{{Version: 2}})
	})
}

func TestCut(t *testing.T) {
	long := "a123456789b123456789c123456789d123456789e123456789f123456789g12345"
	assert.Equal(t, long[:63], pgmigrate.Cut(long))
	assert.Equal(t, "short", pgmigrate.Cut("short"))
}
