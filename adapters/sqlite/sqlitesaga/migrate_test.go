package sqlitesaga_test

import (
	"context"
	_ "embed"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is schema.sql of commit 8cb784d, the last release before
// migrations were versioned.
//
//go:embed testdata/8cb784d/schema.sql
var previousSQL string

// TestLongestTableNameKeepsEveryIndex: with the table named at the longest
// length New accepts (63 bytes), alone or in an attached database, Migrate
// makes the indexes it makes for the default name.
func TestLongestTableNameKeepsEveryIndex(t *testing.T) {
	sqlitetest.LongestTableName(t, sqlitesaga.New, func(table string) sqlitesaga.Config { return sqlitesaga.Config{Table: table} },
		"sagas", 2, func(s *sqlitesaga.Store) { // the claim and status indexes (a WITHOUT ROWID table is its primary key)
			ctx, now := context.Background(), time.Now()
			require.NoError(t, s.Create(ctx, saga.Record{ID: "s1", Name: "order", Status: saga.Running, Version: 1, CreatedAt: now, UpdatedAt: now}))
			claimed, err := s.Claim(ctx, "order", "me", now, now.Add(time.Minute), 10)
			require.NoError(t, err)
			assert.Len(t, claimed, 1)
		})
}

// TestMigrateUpgradesThePreviousRelease: a table made and filled by the
// release before versioned migrations (no migrations table) is adopted by
// Migrate, from several processes at once, and brought to the latest
// version with its sagas intact.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	path, db := sqlitetest.Previous(t, previousSQL, "{{table}}", `"sagas"`, "{{unqualified}}", `"sagas"`,
		"{{claim_index}}", `"sagas_claim"`, "{{status_index}}", `"sagas_status"`)
	// Sagas as the previous release's Create wrote them: one whose owner
	// died (its lease over), one needing attention.
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, r := range []struct{ id, status string }{{"order-1", "running"}, {"order-2", "needs_attention"}} {
		_, err := db.Exec(`INSERT INTO sagas (id, name, status, step, data, error, deadline, owner, lease_until, version, created_at, updated_at)
			VALUES (?, 'order', ?, 1, x'7b7d', '', ?, 'dead-owner', ?, 3, ?, ?)`,
			r.id, r.status, time.Time{}.UnixMicro(), at.UnixMicro(), at.UnixMicro(), at.UnixMicro())
		require.NoError(t, err)
	}

	s := sqlitetest.Upgrade(t, path, db, sqlitesaga.New, sqlitesaga.Config{}, "sqlitesaga", "sagas", 1)
	got, err := s.Get(ctx, "order-2")
	require.NoError(t, err)
	assert.Equal(t, saga.NeedsAttention, got.Status)
	assert.Equal(t, "{}", string(got.Data))
	claimed, err := s.Claim(ctx, "order", "new-owner", at.Add(time.Minute), at.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	assert.Equal(t, "order-1", claimed[0].ID)
	assert.Equal(t, int64(4), claimed[0].Version)
}

func TestMigrateOnAStoreMadeWithoutNewPanics(t *testing.T) {
	assert.PanicsWithValue(t, "sqlitesaga: Store used without New", func() { _ = new(sqlitesaga.Store).Migrate(context.Background()) })
}
