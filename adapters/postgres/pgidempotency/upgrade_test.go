package pgidempotency_test

import (
	"context"
	_ "embed"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
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

// TestMigrateUpgradesThePreviousRelease: a table made and filled by the
// release before versioned migrations (no migrations table) is adopted by
// Migrate and brought to the latest version with its records intact: a
// completed record replays, a processed message stays processed. With a
// 63-byte table name, whose index name PostgreSQL cut to the table's own
// (so the index was skipped), the upgrade creates the index.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	refPool := pgtest.Pool(t)
	newStore(t, refPool)
	want := pgtest.Indexes(t, refPool, pgidempotency.DefaultTable)

	for _, tc := range []struct {
		name  string
		table func(schema string) string
	}{
		{"default name", func(string) string { return "" }},
		{"62-byte name", func(string) string { return "k" + strings.Repeat("k", 61) }},
		{"63-byte name in a schema", func(s string) string { return s + ".k" + strings.Repeat("k", 62) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema, dsn := pgtest.Schema(t)
			pool, err := pgxpool.New(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			table := tc.table(schema)
			full := table
			if full == "" {
				full = pgidempotency.DefaultTable
			}
			quoted := pgx.Identifier(strings.Split(full, ".")).Sanitize()
			name := full[strings.LastIndex(full, ".")+1:]
			_, err = pool.Exec(ctx, strings.NewReplacer("{{table}}", quoted,
				"{{index}}", pgx.Identifier{name + "_expires_at"}.Sanitize()).Replace(previousSQL))
			require.NoError(t, err)

			// A completed record, as the previous release's Claim and
			// Complete left it, and a message processed by its Inbox (its
			// own INSERT).
			now := time.Now().Truncate(time.Millisecond)
			_, err = pool.Exec(ctx, `INSERT INTO `+quoted+` (scope, key, fingerprint, completed, token, attempt, outcome, lease_until, expires_at)
				VALUES ('payments', 'key-1', '\xf1', true, 7, 1, 'the answer', $1, $2)`, now, now.Add(time.Hour))
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `INSERT INTO `+quoted+` AS r (scope, key, fingerprint, completed, token, attempt, lease_until, expires_at)
				VALUES ('billing', 'message-1', '', true, 0, 1, $1, $2)`, now, now.Add(time.Hour))
			require.NoError(t, err)

			s, err := pgidempotency.New(pool, pgidempotency.Config{Table: table})
			require.NoError(t, err)
			pgtest.MigrateConcurrently(t, 3, s.Migrate)
			assert.Equal(t, 2, pgtest.Version(t, pool, "pgidempotency", full))
			assert.Equal(t, want, pgtest.Indexes(t, pool, full), "every index, none twice")

			rec, err := s.Claim(ctx, idempotency.Claim{Ref: idempotency.Ref{Scope: "payments", Key: "key-1"}, Fingerprint: []byte{0xf1},
				Token: 8, Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
			require.NoError(t, err)
			assert.Equal(t, idempotency.Completed, rec.State)
			assert.Equal(t, "the answer", string(rec.Outcome))
			in, err := pgidempotency.NewInbox(s, pgidempotency.InboxConfig{Consumer: "billing"})
			require.NoError(t, err)
			ran, err := in.Process(ctx, "message-1", func(context.Context, pgx.Tx) error { return nil })
			require.NoError(t, err)
			assert.False(t, ran, "processed before the upgrade")
		})
	}
}
