package sqliteidempotency_test

import (
	"context"
	"database/sql"
	_ "embed"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
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
// makes the indexes it makes for the default name.
func TestLongestTableNameKeepsEveryIndex(t *testing.T) {
	sqlitetest.LongestTableName(t, sqliteidempotency.New, func(table string) sqliteidempotency.Config { return sqliteidempotency.Config{Table: table} },
		sqliteidempotency.DefaultTable, 1, func(s *sqliteidempotency.Store) { // the expiry index (a WITHOUT ROWID table is its primary key)
			now := time.Now()
			rec, err := s.Claim(context.Background(), idempotency.Claim{Ref: idempotency.Ref{Key: "k"}, Token: 1, Now: now,
				LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
			require.NoError(t, err)
			assert.Equal(t, idempotency.Claimed, rec.State)
		})
}

// TestMigrateUpgradesThePreviousRelease: a table made and filled by the
// release before versioned migrations (no migrations table) is adopted by
// Migrate, from several processes at once, and brought to the latest
// version with its records intact: a completed record replays, a
// processed message stays processed.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	path, db := sqlitetest.Previous(t, previousSQL, "{{table}}", `"idempotency_records"`, "{{index}}", `"idempotency_records_expires_at"`,
		"{{unqualified}}", `"idempotency_records"`)
	now := time.Now().Truncate(time.Millisecond)
	// A completed record, as the previous release's Claim and Complete left
	// it, and a message processed by its Inbox.
	_, err := db.Exec(`INSERT INTO idempotency_records (scope, key, fingerprint, completed, token, attempt, outcome, recovery_point, lease_until, expires_at)
		VALUES (CAST('payments' AS BLOB), CAST('key-1' AS BLOB), x'f1', 1, 7, 1, CAST('the answer' AS BLOB), NULL, ?1, ?2),
		       (CAST('billing' AS BLOB), CAST('message-1' AS BLOB), x'', 1, 0, 1, NULL, NULL, ?1, ?2)`,
		now.UnixMilli(), now.Add(time.Hour).UnixMilli())
	require.NoError(t, err)

	s := sqlitetest.Upgrade(t, path, db, sqliteidempotency.New, sqliteidempotency.Config{}, "sqliteidempotency", sqliteidempotency.DefaultTable, 1)
	rec, err := s.Claim(ctx, idempotency.Claim{Ref: idempotency.Ref{Scope: "payments", Key: "key-1"}, Fingerprint: []byte{0xf1},
		Token: 8, Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
	require.NoError(t, err)
	assert.Equal(t, idempotency.Completed, rec.State)
	assert.Equal(t, "the answer", string(rec.Outcome))
	in, err := sqliteidempotency.NewInbox(s, sqliteidempotency.InboxConfig{Consumer: "billing"})
	require.NoError(t, err)
	ran, err := in.Process(ctx, "message-1", func(context.Context, *sql.Tx) error { return nil })
	require.NoError(t, err)
	assert.False(t, ran, "processed before the upgrade")
}
