package pgidempotency_test

import (
	"context"
	"os"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const dsnVar = "BULWARK_PGIDEMPOTENCY_DSN"

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){
		"holder":       func() { idempotencytest.HolderChild(childStore()) },
		"inbox-holder": runInboxHolder,
	})
}

// childStore opens the parent's store in a child process.
func childStore() (idempotency.Store, idempotencytest.Counter) {
	pool, err := pgxpool.New(context.Background(), os.Getenv(dsnVar))
	if err != nil {
		panic(err)
	}
	s := newStoreOn(pool)
	return s, counter{pool}
}

func newStoreOn(pool *pgxpool.Pool) *pgidempotency.Store {
	cfg := pgidempotency.DefaultConfig()
	cfg.DB = pool
	s, err := pgidempotency.New(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

func newStore(t *testing.T, pool *pgxpool.Pool) *pgidempotency.Store {
	t.Helper()
	s := newStoreOn(pool)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
	return s
}

// counter counts handler runs in a table of the test's schema.
type counter struct{ db *pgxpool.Pool }

func newCounter(t *testing.T, db *pgxpool.Pool) counter {
	_, err := db.Exec(context.Background(), `CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
	require.NoError(t, err)
	return counter{db}
}

func (c counter) Incr(ctx context.Context, key string) error {
	_, err := c.db.Exec(ctx, `INSERT INTO runs (key, n) VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET n = runs.n + 1`, key)
	return err
}

func (c counter) Get(ctx context.Context, key string) (int, error) {
	var n int
	err := c.db.QueryRow(ctx, `SELECT coalesce((SELECT n FROM runs WHERE key = $1), 0)`, key).Scan(&n)
	return n, err
}

func TestConformance(t *testing.T) {
	var pool *pgxpool.Pool
	idempotencytest.Run(t, func(t *testing.T) idempotency.Store {
		pool = pgtest.Pool(t)
		return newStore(t, pool)
	}, idempotencytest.Options{
		NewCounter: func(t *testing.T) idempotencytest.Counter { return newCounter(t, pool) },
	})
}

func TestKilledHolder(t *testing.T) {
	testenv.SkipUnderRace(t)
	_, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	s := newStore(t, pool)
	c := newCounter(t, pool)
	idempotencytest.KilledHolder(t, s, c, testenv.Command(t, "holder", dsnVar+"="+dsn))
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := pgidempotency.New(pgidempotency.Config{Table: "x"})
	assert.EqualError(t, err, "pgidempotency: Config.DB must be set")
	for _, table := range []string{"", "a.b.c", "drop table;", "1abc"} {
		_, err := pgidempotency.New(pgidempotency.Config{DB: &pgxpool.Pool{}, Table: table})
		assert.ErrorContains(t, err, "pgidempotency: Config.Table", "table %q", table)
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	schema := idempotencytest.RandomName("app_")
	_, err := pool.Exec(ctx, `CREATE SCHEMA `+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	s, err := pgidempotency.New(pgidempotency.Config{DB: pool, Table: schema + ".keys"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	k, err := idempotency.New(func() idempotency.Config { c := idempotency.DefaultConfig(); c.Store = s; return c }())
	require.NoError(t, err)
	v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	assert.Equal(t, 5, v)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.keys`).Scan(&n))
	assert.Equal(t, 1, n)
}

// TestMigrateIsSafeConcurrently: services start together and each runs
// Migrate; concurrent CREATE ... IF NOT EXISTS of one table must not fail.
func TestMigrateIsSafeConcurrently(t *testing.T) {
	for range 5 {
		pgtest.MigrateConcurrently(t, 8, newStoreOn(pgtest.Pool(t)).Migrate)
	}
}
