package sqlitecqrs_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/stretchr/testify/require"
)

// faultPathVar names the database file of TestSIGKILLedProjectors to its
// projector children.
const faultPathVar = "BULWARK_SQLITECQRS_FAULT_PATH"

func eventStore(db *sql.DB) (*sqliteeventsource.Store, error) {
	return sqliteeventsource.New(db, sqliteeventsource.Config{})
}

// openCrashChild opens the stores of a projector process of
// TestSIGKILLedProjectors (see cqrstest.MainCrashChild). SQLite cannot
// announce another process's appends, so it polls; its handler takes a
// while per event, so that kills land mid-batch.
func openCrashChild(ctx context.Context) (c cqrstest.CrashChild[*sql.Tx], err error) {
	db, err := sqlite.Open(ctx, os.Getenv(faultPathVar))
	if err != nil {
		return c, err
	}
	if c.Events, err = eventStore(db); err != nil {
		return c, err
	}
	c.Checkpoints, err = sqlitecqrs.New(db, sqlitecqrs.Config{})
	c.PollInterval, c.HandleDelay = 50*time.Millisecond, 200*time.Microsecond
	c.Apply = func(ctx context.Context, tx *sql.Tx, position int64, owner string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO applied (position, owner) VALUES (?, ?)`, position, owner)
		return err
	}
	return c, err
}

// TestSIGKILLedProjectors runs cqrstest's crash test in one database file:
// projector processes killed with SIGKILL (often mid-batch) while writers
// append must apply every event to the read model exactly once, one
// process at a time.
func TestSIGKILLedProjectors(t *testing.T) {
	cqrstest.RunCrash(t, func(t *testing.T) cqrstest.CrashHarness[*sql.Tx] {
		ctx := context.Background()
		path := sqlitetest.Path(t)
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		events, err := eventStore(db)
		require.NoError(t, err)
		require.NoError(t, events.Migrate(ctx))
		_, err = db.ExecContext(ctx, `CREATE TABLE applied (position INTEGER NOT NULL, owner TEXT NOT NULL)`)
		require.NoError(t, err)
		return cqrstest.CrashHarness[*sql.Tx]{
			Events:      events,
			Checkpoints: newStore(t, db),
			Stored: func(ctx context.Context) ([]int64, error) {
				return queryAll(ctx, db, `SELECT position FROM bulwark_events`, func(p *int64) []any { return []any{p} })
			},
			Applied: func(ctx context.Context) ([]cqrstest.CrashRow, error) {
				return queryAll(ctx, db, `SELECT position, owner FROM applied`, func(r *cqrstest.CrashRow) []any { return []any{&r.Position, &r.Owner} })
			},
			ChildEnv:  []string{faultPathVar + "=" + path},
			KillDelay: 150 * time.Millisecond,
		}
	})
}

// queryAll runs query on db and returns its rows, each scanned into the
// fields that fields returns.
func queryAll[T any](ctx context.Context, db *sql.DB, query string, fields func(*T) []any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(fields(&v)...); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
