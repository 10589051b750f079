package pgidempotency_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const dsnVar = "BULWARK_PGIDEMPOTENCY_DSN"

func TestMain(m *testing.M) {
	idempotencytest.MainKilledHolder(openHolder)       // returns unless this process is a killed holder
	idempotencytest.MainKilledInboxConsumer(openInbox) // returns unless this process is a killed consumer
	os.Exit(m.Run())
}

// childPool opens the parent test's schema in a child process.
func childPool(ctx context.Context) (*pgxpool.Pool, error) {
	return pgxpool.New(ctx, os.Getenv(dsnVar))
}

// openHolder opens the parent's store and counter in the child process of
// TestKilledHolder.
func openHolder(ctx context.Context) (idempotency.Store, idempotencytest.Counter, error) {
	pool, err := childPool(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := pgidempotency.New(pool, pgidempotency.Config{})
	return s, counter{pool}, err
}

func newStoreOn(pool *pgxpool.Pool) *pgidempotency.Store {
	s, err := pgidempotency.New(pool, pgidempotency.Config{})
	if err != nil {
		panic(err)
	}
	return s
}

func newStore(t testing.TB, pool *pgxpool.Pool) *pgidempotency.Store {
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
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		pool := pgtest.Pool(t)
		return idempotencytest.Harness{Store: newStore(t, pool), Counter: newCounter(t, pool)}
	})
}

func TestKilledHolder(t *testing.T) {
	idempotencytest.RunKilledHolder(t, func(t *testing.T) idempotencytest.KilledHolderHarness {
		pool, dsn := schemaPool(t)
		return idempotencytest.KilledHolderHarness{Store: newStore(t, pool), Counter: newCounter(t, pool), ChildEnv: []string{dsnVar + "=" + dsn}}
	})
}

// schemaPool returns a pool on a schema of the test's own and the DSN that
// reaches it from a child process.
func schemaPool(t *testing.T) (*pgxpool.Pool, string) {
	_, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, dsn
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := pgidempotency.New(nil, pgidempotency.Config{Table: "x"})
	assert.EqualError(t, err, "pgidempotency: New needs a database, got nil")
	for _, table := range []string{"a.b.c", "drop table;", "1abc"} {
		_, err := pgidempotency.New(&pgxpool.Pool{}, pgidempotency.Config{Table: table})
		assert.ErrorContains(t, err, "pgidempotency: Config.Table", "table %q", table)
	}
	assert.PanicsWithValue(t, "pgidempotency: Store used without New", func() { _ = new(pgidempotency.Store).Migrate(context.Background()) })
}

// The zero Config keeps records in the table DefaultConfig names.
func TestZeroConfigIsTheDefault(t *testing.T) {
	pool := pgtest.Pool(t)
	s := newStore(t, pool)
	_, err := s.Claim(context.Background(), idempotency.Claim{Ref: idempotency.Ref{Key: "k"}, Token: 1, Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM `+pgidempotency.DefaultConfig().Table).Scan(&n))
	assert.Equal(t, 1, n)
}

// FuzzNew feeds New arbitrary table names: it returns an error naming
// Config.Table, or a store whose table migrates and holds records.
func FuzzNew(f *testing.F) {
	for _, seed := range []string{"", "keys", "app.keys", "a.b.c", "drop table;", "1abc", "UPPER_case_9", strings.Repeat("t", 70), strings.Repeat("t", 63)} {
		f.Add(seed)
	}
	pool := pgtest.Pool(f)
	f.Fuzz(func(t *testing.T, table string) {
		s, err := pgidempotency.New(&pgxpool.Pool{}, pgidempotency.Config{Table: table})
		if err != nil {
			require.ErrorContains(t, err, "pgidempotency: Config.Table")
			return
		}
		require.NotNil(t, s)
		if strings.Contains(table, ".") {
			return // needs a schema of that name
		}
		s, err = pgidempotency.New(pool, pgidempotency.Config{Table: table})
		require.NoError(t, err)
		require.NoError(t, s.Migrate(context.Background()))
		rec, err := s.Claim(context.Background(), idempotency.Claim{Ref: idempotency.Ref{Key: "k"}, Token: 1, Now: time.Now(), LeaseUntil: time.Now().Add(time.Minute), ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, idempotency.Claimed, rec.State)
		if table == "" {
			table = pgidempotency.DefaultTable
		}
		_, err = pool.Exec(context.Background(), `DROP TABLE `+pgx.Identifier{table}.Sanitize())
		require.NoError(t, err)
		_, err = pool.Exec(context.Background(), `DELETE FROM bulwark_migrations WHERE table_name = $1`, table)
		require.NoError(t, err, "so that a later input naming the table migrates it again")
	})
}

func TestSchemaQualifiedTable(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	schema := idempotencytest.RandomName("app_")
	_, err := pool.Exec(ctx, `CREATE SCHEMA `+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	s, err := pgidempotency.New(pool, pgidempotency.Config{Table: schema + ".keys"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	k, err := idempotency.New(s, idempotency.Config{})
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
