package sqliteidempotency_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pathVar = "BULWARK_SQLITEIDEMPOTENCY_PATH"

func TestMain(m *testing.M) {
	idempotencytest.MainKilledHolder(openHolder)       // returns unless this process is a killed holder
	idempotencytest.MainKilledInboxConsumer(openInbox) // returns unless this process is a killed consumer
	os.Exit(m.Run())
}

// openHolder opens the parent's store and counter in the child process of
// TestKilledHolder.
func openHolder(ctx context.Context) (idempotency.Store, idempotencytest.Counter, error) {
	db, err := sqlite.Open(ctx, os.Getenv(pathVar))
	if err != nil {
		return nil, nil, err
	}
	s, err := sqliteidempotency.New(db, sqliteidempotency.Config{})
	return s, counter{db}, err
}

// fileDB opens a database file of the test's own and returns it with its
// path, for a child process to open too.
func fileDB(t *testing.T) (*sql.DB, string) {
	path := sqlitetest.Path(t)
	db, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, path
}

func newStoreOn(db *sql.DB) *sqliteidempotency.Store {
	s, err := sqliteidempotency.New(db, sqliteidempotency.Config{})
	if err != nil {
		panic(err)
	}
	return s
}

func newStore(t testing.TB, db *sql.DB) *sqliteidempotency.Store {
	t.Helper()
	s := newStoreOn(db)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
	return s
}

// counter counts handler runs in a table of the test's database.
type counter struct{ db *sql.DB }

func newCounter(t *testing.T, db *sql.DB) counter {
	_, err := db.Exec(`CREATE TABLE IF NOT EXISTS runs (key TEXT PRIMARY KEY, n INTEGER NOT NULL)`)
	require.NoError(t, err)
	return counter{db}
}

func (c counter) Incr(ctx context.Context, key string) error {
	_, err := c.db.ExecContext(ctx, `INSERT INTO runs (key, n) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1`, key)
	return err
}

func (c counter) Get(ctx context.Context, key string) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT coalesce((SELECT n FROM runs WHERE key = ?), 0)`, key).Scan(&n)
	return n, err
}

func TestConformance(t *testing.T) {
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		db := sqlitetest.Open(t)
		return idempotencytest.Harness{Store: newStore(t, db), Counter: newCounter(t, db)}
	})
}

func TestKilledHolder(t *testing.T) {
	idempotencytest.RunKilledHolder(t, func(t *testing.T) idempotencytest.KilledHolderHarness {
		db, path := fileDB(t)
		return idempotencytest.KilledHolderHarness{Store: newStore(t, db), Counter: newCounter(t, db), ChildEnv: []string{pathVar + "=" + path}}
	})
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := sqliteidempotency.New(nil, sqliteidempotency.Config{Table: "x"})
	assert.EqualError(t, err, "sqliteidempotency: New needs a database, got nil")
	for _, table := range []string{"a.b.c", "drop table;", "1abc"} {
		_, err := sqliteidempotency.New(&sql.DB{}, sqliteidempotency.Config{Table: table})
		assert.ErrorContains(t, err, "sqliteidempotency: Config.Table", "table %q", table)
	}
	assert.PanicsWithValue(t, "sqliteidempotency: Store used without New", func() { _ = new(sqliteidempotency.Store).Migrate(context.Background()) })
}

// FuzzNew feeds New arbitrary table names: it returns an error naming
// Config.Table, or a store whose table migrates and holds records.
func FuzzNew(f *testing.F) {
	for _, seed := range []string{"", "keys", "main.keys", "a.b.c", "drop table;", "1abc", "UPPER_case_9", strings.Repeat("t", 300)} {
		f.Add(seed)
	}
	db := sqlitetest.Open(f)
	f.Fuzz(func(t *testing.T, table string) {
		s, err := sqliteidempotency.New(db, sqliteidempotency.Config{Table: table})
		if err != nil {
			require.ErrorContains(t, err, "sqliteidempotency: Config.Table")
			return
		}
		if schema, _, ok := strings.Cut(table, "."); ok && !strings.EqualFold(schema, "main") {
			return // needs an attached database of that name
		}
		require.NoError(t, s.Migrate(context.Background()))
		now := time.Now()
		rec, err := s.Claim(context.Background(), idempotency.Claim{Ref: idempotency.Ref{Key: "k"}, Token: 1, Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
		require.NoError(t, err)
		require.Equal(t, idempotency.Claimed, rec.State)
		if table == "" {
			table = sqliteidempotency.DefaultTable
		}
		_, err = db.Exec(`DROP TABLE "` + strings.ReplaceAll(table, ".", `"."`) + `"`)
		require.NoError(t, err)
		_, err = db.Exec(`DELETE FROM bulwark_migrations WHERE table_name = ?`, table[strings.LastIndex(table, ".")+1:])
		require.NoError(t, err, "so that a later input naming the table migrates it again")
	})
}

func TestSchemaQualifiedTable(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	// One connection, so the attachment holds for every statement.
	db.SetMaxOpenConns(1)
	_, err := db.ExecContext(ctx, `ATTACH DATABASE ? AS app`, filepath.Join(t.TempDir(), "app.db"))
	require.NoError(t, err)
	s, err := sqliteidempotency.New(db, sqliteidempotency.Config{Table: "app.keys"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	k, err := idempotency.New(s, idempotency.Config{})
	require.NoError(t, err)
	v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	assert.Equal(t, 5, v)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM app.keys`).Scan(&n))
	assert.Equal(t, 1, n)
}
