package sqliteidempotency_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pathVar = "BULWARK_SQLITEIDEMPOTENCY_PATH"

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){
		"holder":       func() { idempotencytest.HolderChild(childStore()) },
		"inbox-holder": runInboxHolder,
	})
}

func childDB() *sql.DB {
	db, err := sqlite.Open(context.Background(), os.Getenv(pathVar))
	if err != nil {
		panic(err)
	}
	return db
}

func childStore() (idempotency.Store, idempotencytest.Counter) {
	db := childDB()
	return newStoreOn(db), counter{db}
}

func newStoreOn(db *sql.DB) *sqliteidempotency.Store {
	cfg := sqliteidempotency.DefaultConfig()
	cfg.DB = db
	s, err := sqliteidempotency.New(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

func newStore(t *testing.T, db *sql.DB) *sqliteidempotency.Store {
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
	var db *sql.DB
	idempotencytest.Run(t, func(t *testing.T) idempotency.Store {
		db = sqlitetest.Open(t)
		return newStore(t, db)
	}, idempotencytest.Options{
		NewCounter: func(t *testing.T) idempotencytest.Counter { return newCounter(t, db) },
	})
}

func TestKilledHolder(t *testing.T) {
	testenv.SkipUnderRace(t)
	path := sqlitetest.Path(t)
	db, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer db.Close()
	idempotencytest.KilledHolder(t, newStore(t, db), newCounter(t, db), testenv.Command(t, "holder", pathVar+"="+path))
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := sqliteidempotency.New(sqliteidempotency.Config{Table: "x"})
	assert.EqualError(t, err, "sqliteidempotency: Config.DB must be set")
	for _, table := range []string{"", "a.b.c", "drop table;", "1abc"} {
		_, err := sqliteidempotency.New(sqliteidempotency.Config{DB: &sql.DB{}, Table: table})
		assert.ErrorContains(t, err, "sqliteidempotency: Config.Table", "table %q", table)
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	// One connection, so the attachment holds for every statement.
	db.SetMaxOpenConns(1)
	_, err := db.ExecContext(ctx, `ATTACH DATABASE ? AS app`, filepath.Join(t.TempDir(), "app.db"))
	require.NoError(t, err)
	s, err := sqliteidempotency.New(sqliteidempotency.Config{DB: db, Table: "app.keys"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	cfg := idempotency.DefaultConfig()
	cfg.Store = s
	k, err := idempotency.New(cfg)
	require.NoError(t, err)
	v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	assert.Equal(t, 5, v)
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM app.keys`).Scan(&n))
	assert.Equal(t, 1, n)
}
