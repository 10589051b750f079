package sqlitecqrs_test

import (
	"context"
	"database/sql"
	_ "embed"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is migrate.sql of commit 8cb784d, the last release before
// migrations were versioned.
//
//go:embed testdata/8cb784d/migrate.sql
var previousSQL string

// TestLongestTableNameKeepsEveryIndex: with the table named at the longest
// length New accepts (63 bytes), alone or in an attached database, Migrate
// makes the table with the indexes it has under the default name (none
// beside itself: WITHOUT ROWID), and it holds checkpoints.
func TestLongestTableNameKeepsEveryIndex(t *testing.T) {
	sqlitetest.LongestTableName(t, sqlitecqrs.New, func(table string) sqlitecqrs.Config { return sqlitecqrs.Config{Table: table} },
		sqlitecqrs.DefaultConfig().Table, 0, func(s *sqlitecqrs.Store) {
			ctx := context.Background()
			require.NoError(t, s.Update(ctx, "p", 1, func(_ context.Context, _ *sql.Tx, cp *cqrs.Checkpoint) error {
				cp.Position = 1
				return nil
			}))
			cps, err := s.List(ctx)
			require.NoError(t, err)
			require.Len(t, cps, 1)
		})
}

// TestMigrateUpgradesThePreviousRelease: a checkpoints table made and
// filled by the release before versioned migrations (no migrations table)
// is adopted by Migrate, from several processes at once, and brought to
// the latest version with its checkpoints intact; projections carry on
// from them.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	path, db := sqlitetest.Previous(t, previousSQL, "{{table}}", `"bulwark_projections"`)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixMicro()
	// As the previous release's Update wrote a checkpoint.
	_, err := db.Exec(`INSERT INTO "bulwark_projections" (name, version, position, live, owner, lease_until, failed_position, failed_error, failed_at, updated_at)
		VALUES ('orders', 2, 41, 1, 'p1', ?1, 0, '', NULL, ?1)`, at)
	require.NoError(t, err)

	s := sqlitetest.Upgrade(t, path, db, sqlitecqrs.New, sqlitecqrs.Config{}, "sqlitecqrs", "bulwark_projections", 1)
	cps, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, cps, 1)
	assert.Equal(t, int64(41), cps[0].Position)
	assert.True(t, cps[0].Live)
	require.NoError(t, s.Update(ctx, "orders", 2, func(_ context.Context, _ *sql.Tx, cp *cqrs.Checkpoint) error {
		assert.Equal(t, int64(41), cp.Position, "the projection carries on from its checkpoint")
		cp.Position = 42
		return nil
	}))
}
