package sqlitecqrs_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	cqrstest.MainCrashChild(openCrashChild) // returns unless this process is a crash child
	os.Exit(m.Run())
}

func newStore(t testing.TB, db *sql.DB) *sqlitecqrs.Store {
	t.Helper()
	return sqlitetest.Migrated(t, sqlitecqrs.New, db, sqlitecqrs.Config{})
}

func TestConformance(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
	cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[*sql.Tx] {
		db := sqlitetest.Open(t)
		_, err := db.Exec(`CREATE TABLE read_model (projection TEXT NOT NULL, position INTEGER NOT NULL)`)
		require.NoError(t, err)
		return cqrstest.Harness[*sql.Tx]{
			Store:         newStore(t, db),
			Transactional: true,
			Record: func(ctx context.Context, tx *sql.Tx, projection string, position int64) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO read_model (projection, position) VALUES (?, ?)`, projection, position)
				return err
			},
			Clear: func(ctx context.Context, tx *sql.Tx, projection string) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM read_model WHERE projection = ?`, projection)
				return err
			},
			Recorded: func(t *testing.T, projection string) []int64 {
				rows, err := db.Query(`SELECT position FROM read_model WHERE projection = ? ORDER BY position`, projection)
				require.NoError(t, err)
				defer rows.Close()
				var out []int64
				for rows.Next() {
					var p int64
					require.NoError(t, rows.Scan(&p))
					out = append(out, p)
				}
				require.NoError(t, rows.Err())
				return out
			},
		}
	})
}

func TestNewValidates(t *testing.T) {
	_, err := sqlitecqrs.New(nil, sqlitecqrs.Config{Table: "t"})
	require.ErrorContains(t, err, "sqlitecqrs: New needs a database (db is nil)")
	for _, table := range []string{"a;b", "x.y.z", "1t"} {
		_, err := sqlitecqrs.New(&sql.DB{}, sqlitecqrs.Config{Table: table})
		require.ErrorContains(t, err, "sqlitecqrs: Config.Table", "table %q", table)
	}
	_, err = sqlitecqrs.New(&sql.DB{}, sqlitecqrs.Config{})
	require.NoError(t, err, "the zero Config")
	assert.PanicsWithValue(t, "sqlitecqrs: Store used without New", func() { _, _ = (&sqlitecqrs.Store{}).List(context.Background()) })
}

// TestMigrateConcurrentlyAndAgain: Migrate is idempotent and safe to run
// from several goroutines at once, into a table of an attached schema.
func TestMigrateConcurrentlyAndAgain(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.Open(t)
	s, err := sqlitecqrs.New(db, sqlitecqrs.Config{Table: "main.checkpoints"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Migrate(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Update(ctx, "p", 0, func(context.Context, *sql.Tx, *cqrs.Checkpoint) error { return nil }))
	cps, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, cps, 1)
	boom := errors.New("boom")
	require.ErrorIs(t, s.Update(ctx, "p", 0, func(context.Context, *sql.Tx, *cqrs.Checkpoint) error { return boom }), boom)
}
