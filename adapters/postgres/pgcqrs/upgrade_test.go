package pgcqrs_test

import (
	"context"
	_ "embed"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgcqrs"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is migrate.sql of commit 8cb784d, the last release before
// migrations were versioned.
//
//go:embed testdata/8cb784d/migrate.sql
var previousSQL string

// TestMigrateUpgradesThePreviousRelease: a checkpoints table made and
// filled by the release before versioned migrations (no migrations table)
// is adopted by Migrate and brought to the latest version with its
// checkpoints intact, and projections carry on from them.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	for _, table := range []func(schema string) string{
		func(string) string { return "" },
		func(s string) string { return s + ".c" + strings.Repeat("c", 62) },
	} {
		schema, dsn := pgtest.Schema(t)
		pool, err := pgxpool.New(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		cfg := pgcqrs.Config{Table: table(schema)}
		full := cfg.Table
		if full == "" {
			full = pgcqrs.DefaultConfig().Table
		}
		quoted := pgx.Identifier(strings.Split(full, ".")).Sanitize()
		_, err = pool.Exec(ctx, strings.ReplaceAll(previousSQL, "{{table}}", quoted))
		require.NoError(t, err)
		at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		// As the previous release's Update left a checkpoint.
		_, err = pool.Exec(ctx, `INSERT INTO `+quoted+` (name, version) VALUES ('orders', 2) ON CONFLICT DO NOTHING`)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `UPDATE `+quoted+` SET position = 41, live = true, owner = 'p1', lease_until = $1, updated_at = $1
			WHERE name = 'orders' AND version = 2`, at)
		require.NoError(t, err)

		s, err := pgcqrs.New(pool, cfg)
		require.NoError(t, err)
		pgtest.MigrateConcurrently(t, 3, s.Migrate)
		assert.Equal(t, 1, pgtest.Version(t, pool, "pgcqrs", full))
		cps, err := s.List(ctx)
		require.NoError(t, err)
		require.Len(t, cps, 1)
		assert.Equal(t, int64(41), cps[0].Position)
		assert.True(t, cps[0].Live)
		require.NoError(t, s.Update(ctx, "orders", 2, func(_ context.Context, _ pgx.Tx, cp *cqrs.Checkpoint) error {
			assert.Equal(t, int64(41), cp.Position, "the projection carries on from its checkpoint")
			cp.Position = 42
			return nil
		}))
	}
}

// TestLongestTableNameKeepsEveryIndex: with the table named at the longest
// length New accepts (63 bytes), alone or after a schema, Migrate makes
// the table with the index (its primary key) it has under the default name.
func TestLongestTableNameKeepsEveryIndex(t *testing.T) {
	ctx := context.Background()
	ref := pgtest.Pool(t)
	newStore(t, ref)
	want := pgtest.Indexes(t, ref, pgcqrs.DefaultConfig().Table)
	require.Len(t, want, 1)
	table := "projections_" + strings.Repeat("p", 63-len("projections_"))
	for _, qualified := range []bool{false, true} {
		schema, dsn := pgtest.Schema(t)
		pool, err := pgxpool.New(ctx, dsn)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		cfg := pgcqrs.Config{Table: table}
		if qualified {
			cfg.Table = schema + "." + table
		}
		s, err := pgcqrs.New(pool, cfg)
		require.NoError(t, err)
		require.NoError(t, s.Migrate(ctx))
		assert.Equal(t, want, pgtest.Indexes(t, pool, cfg.Table))
		require.NoError(t, s.Update(ctx, "p", 1, func(context.Context, pgx.Tx, *cqrs.Checkpoint) error { return nil }))
	}
}
