package sqliteoutbox_test

import (
	"context"
	_ "embed"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is migrate.sql of commit 8cb784d, the last release before
// migrations were versioned.
//
//go:embed testdata/8cb784d/migrate.sql
var previousSQL string

// TestLongestTableNamesKeepEveryIndex: with tables named at the longest
// length New accepts (63 bytes; the outbox takes no schema), Migrate makes
// every index it makes for the default names.
func TestLongestTableNamesKeepEveryIndex(t *testing.T) {
	ctx := context.Background()
	_, ref := newStore(t)
	wantPending := sqlitetest.Indexes(t, ref, "outbox_messages")
	wantDead := sqlitetest.Indexes(t, ref, "outbox_dead_letters")
	require.Len(t, wantPending, 4)
	require.Len(t, wantDead, 2)

	db := sqlitetest.Open(t)
	cfg := sqliteoutbox.Config{Table: "o" + strings.Repeat("m", 62), DeadLetterTable: "d" + strings.Repeat("d", 62)}
	s, err := sqliteoutbox.New(db, cfg)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, wantPending, sqlitetest.Indexes(t, db, cfg.Table))
	assert.Equal(t, wantDead, sqlitetest.Indexes(t, db, cfg.DeadLetterTable))
	require.NoError(t, enqueueTx(s, db)(ctx, outbox.NewMessage("t", "k", []byte("p"))))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending)
}

// TestMigrateUpgradesThePreviousRelease: an outbox made and filled by the
// release before versioned migrations (no migrations table) is adopted by
// Migrate, from several processes at once, and brought to the latest
// version with its messages and dead letters intact.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	path, db := sqlitetest.Previous(t, previousSQL,
		"{{table}}", `"outbox_messages"`, "{{dead_table}}", `"outbox_dead_letters"`,
		"{{pending_index}}", `"outbox_messages_pending"`, "{{key_index}}", `"outbox_messages_key"`,
		"{{retry_index}}", `"outbox_messages_retry"`, "{{published_index}}", `"outbox_messages_published"`,
		"{{dead_key_index}}", `"outbox_dead_letters_key"`, "{{dead_id_index}}", `"outbox_dead_letters_id"`)
	// Rows as the previous release wrote them: its Enqueue's INSERT, its
	// retry on the first message, and a dead letter.
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	_, err := db.Exec(`INSERT INTO "outbox_messages" (id, topic, key, payload, headers, created_at) VALUES
		('11111111-1111-1111-1111-111111111111', 'orders', 'k1', x'0102', '{"trace":"abc"}', ?1),
		('22222222-2222-2222-2222-222222222222', 'orders', 'k1', 'second', NULL, ?1)`, at.UnixNano())
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE "outbox_messages" SET attempts = attempts + 1, retry_at = ?2, last_error = ?3 WHERE seq = ?1`, 1, at.Add(time.Second).UnixNano(), "broker down")
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO "outbox_dead_letters" (seq, id, topic, key, payload, headers, created_at, attempts, last_error, dead_at)
		VALUES (100, '44444444-4444-4444-4444-444444444444', 'orders', 'k3', 'dead', NULL, ?1, 5, 'rejected', ?1)`, at.UnixNano())
	require.NoError(t, err)

	s := sqlitetest.Upgrade(t, path, db, sqliteoutbox.New, sqliteoutbox.Config{}, "sqliteoutbox", "outbox_messages", 1)

	stats, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, stats.Pending)
	assert.Equal(t, 1, stats.DeadLetters)
	b, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: at.Add(time.Minute), Lease: time.Minute})
	require.NoError(t, err)
	msgs := b.Messages()
	require.Len(t, msgs, 2)
	assert.Equal(t, []byte{1, 2}, msgs[0].Payload)
	assert.Equal(t, map[string]string{"trace": "abc"}, msgs[0].Headers)
	assert.Equal(t, 1, msgs[0].Attempts)
	require.NoError(t, b.Release(ctx))
	dead, err := s.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, "rejected", dead[0].LastError)
}

// TestMigrateErrorsNameThePackage: a failed migration says whose, and
// which step.
func TestMigrateErrorsNameThePackage(t *testing.T) {
	db := sqlitetest.Open(t)
	_, err := db.Exec(`CREATE VIEW outbox_messages AS SELECT 1 AS seq`)
	require.NoError(t, err)
	s, err := sqliteoutbox.New(db, sqliteoutbox.Config{})
	require.NoError(t, err)
	assert.ErrorContains(t, s.Migrate(context.Background()), "sqliteoutbox: migrating: version 1 (create the tables and indexes): ")
}
