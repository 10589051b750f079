package pgcqrs_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgcqrs"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	cqrstest.MainCrashChild(openCrashChild) // returns unless this process is a crash child
	os.Exit(m.Run())
}

// newStore migrates a checkpoint store in pool's schema.
func newStore(t testing.TB, pool *pgxpool.Pool) *pgcqrs.Store {
	t.Helper()
	s, err := pgcqrs.New(pool, pgcqrs.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

const readModelSQL = `CREATE TABLE read_model (projection TEXT NOT NULL, position BIGINT NOT NULL)`

func TestConformance(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
	cqrstest.Run(t, func(t *testing.T) cqrstest.Harness[pgx.Tx] {
		pool := pgtest.Pool(t)
		_, err := pool.Exec(context.Background(), readModelSQL)
		require.NoError(t, err)
		return cqrstest.Harness[pgx.Tx]{
			Store:         newStore(t, pool),
			Transactional: true,
			Record: func(ctx context.Context, tx pgx.Tx, projection string, position int64) error {
				_, err := tx.Exec(ctx, `INSERT INTO read_model (projection, position) VALUES ($1, $2)`, projection, position)
				return err
			},
			Clear: func(ctx context.Context, tx pgx.Tx, projection string) error {
				_, err := tx.Exec(ctx, `DELETE FROM read_model WHERE projection = $1`, projection)
				return err
			},
			Recorded: func(t *testing.T, projection string) []int64 {
				rows, err := pool.Query(context.Background(), `SELECT position FROM read_model WHERE projection = $1 ORDER BY position`, projection)
				require.NoError(t, err)
				ps, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				require.NoError(t, err)
				return ps
			},
		}
	})
}

func TestNewValidates(t *testing.T) {
	_, err := pgcqrs.New(nil, pgcqrs.Config{Table: "t"})
	require.ErrorContains(t, err, "pgcqrs: New needs a database (db is nil)")
	for _, table := range []string{"a;b", "x.y.z", "1t"} {
		_, err := pgcqrs.New(&pgxpool.Pool{}, pgcqrs.Config{Table: table})
		require.ErrorContains(t, err, "pgcqrs: Config.Table", "table %q", table)
	}
	_, err = pgcqrs.New(&pgxpool.Pool{}, pgcqrs.Config{})
	require.NoError(t, err, "the zero Config")
	assert.PanicsWithValue(t, "pgcqrs: Store used without New", func() { _, _ = (&pgcqrs.Store{}).List(context.Background()) })
}

// TestMigrateConcurrentlyAndAgain: Migrate is idempotent and safe to run
// from several processes at once, into a table named with a schema.
func TestMigrateConcurrentlyAndAgain(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := pgcqrs.New(pool, pgcqrs.Config{Table: schema + ".checkpoints"})
	require.NoError(t, err)
	pgtest.MigrateConcurrently(t, 4, s.Migrate)
	require.NoError(t, s.Update(ctx, "p", 0, func(context.Context, pgx.Tx, *cqrs.Checkpoint) error { return nil }))
	cps, err := s.List(ctx)
	require.NoError(t, err)
	assert.Len(t, cps, 1)
}

// TestAbortedHandlerStatement: a handler whose statement failed (aborting
// the transaction) but that returned nil cannot commit the checkpoint: the
// Update fails and nothing is stored.
func TestAbortedHandlerStatement(t *testing.T) {
	pool := pgtest.Pool(t)
	s := newStore(t, pool)
	ctx := context.Background()
	err := s.Update(ctx, "p", 0, func(ctx context.Context, tx pgx.Tx, cp *cqrs.Checkpoint) error {
		_, err := tx.Exec(ctx, `INSERT INTO missing_table VALUES (1)`)
		require.Error(t, err)
		cp.Position = 10
		return nil // the handler swallowed its error
	})
	require.Error(t, err)
	cps, err := s.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, cps)
	boom := errors.New("boom")
	require.ErrorIs(t, s.Update(ctx, "p", 0, func(context.Context, pgx.Tx, *cqrs.Checkpoint) error { return boom }), boom)
}
