package pgcqrs_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgcqrs"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// Where a projector child of TestSIGKILLedProjectors finds the database.
const (
	faultDSNVar     = "BULWARK_PGCQRS_FAULT_DSN"
	faultChannelVar = "BULWARK_PGCQRS_FAULT_CHANNEL"
)

// eventStore opens the fault test's event store on pool.
func eventStore(pool *pgxpool.Pool, channel string) (*pgeventsource.Store, error) {
	return pgeventsource.New(pool, pgeventsource.Config{Channel: channel})
}

// openCrashChild opens the stores of a projector process of
// TestSIGKILLedProjectors (see cqrstest.MainCrashChild). LISTEN/NOTIFY
// tells it of other processes' appends, so it seldom polls.
func openCrashChild(ctx context.Context) (c cqrstest.CrashChild[pgx.Tx], err error) {
	pool, err := pgxpool.New(ctx, os.Getenv(faultDSNVar))
	if err != nil {
		return c, err
	}
	if c.Events, err = eventStore(pool, os.Getenv(faultChannelVar)); err != nil {
		return c, err
	}
	c.Checkpoints, err = pgcqrs.New(pool, pgcqrs.Config{})
	c.PollInterval = 200 * time.Millisecond
	c.Apply = func(ctx context.Context, tx pgx.Tx, position int64, owner string) error {
		_, err := tx.Exec(ctx, `INSERT INTO applied (position, owner) VALUES ($1, $2)`, position, owner)
		return err
	}
	return c, err
}

// TestSIGKILLedProjectors runs cqrstest's crash test: projector processes
// killed with SIGKILL (mid-batch, as often as not) while writers append
// must apply every event to the read model exactly once, one process at a
// time.
func TestSIGKILLedProjectors(t *testing.T) {
	cqrstest.RunCrash(t, func(t *testing.T) cqrstest.CrashHarness[pgx.Tx] {
		ctx := context.Background()
		schema, dsn := pgtest.Schema(t)
		pool, err := pgxpool.New(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		events, err := eventStore(pool, schema)
		require.NoError(t, err)
		require.NoError(t, events.Migrate(ctx))
		_, err = pool.Exec(ctx, `CREATE TABLE applied (position BIGINT NOT NULL, owner TEXT NOT NULL)`)
		require.NoError(t, err)
		return cqrstest.CrashHarness[pgx.Tx]{
			Events:      events,
			Checkpoints: newStore(t, pool),
			Stored: func(ctx context.Context) ([]int64, error) {
				rows, _ := pool.Query(ctx, `SELECT position FROM bulwark_events`)
				return pgx.CollectRows(rows, pgx.RowTo[int64])
			},
			Applied: func(ctx context.Context) ([]cqrstest.CrashRow, error) {
				rows, _ := pool.Query(ctx, `SELECT position, owner FROM applied`)
				return pgx.CollectRows(rows, pgx.RowToStructByPos[cqrstest.CrashRow])
			},
			ChildEnv:  []string{faultDSNVar + "=" + dsn, faultChannelVar + "=" + schema},
			KillDelay: 300 * time.Millisecond,
		}
	})
}
