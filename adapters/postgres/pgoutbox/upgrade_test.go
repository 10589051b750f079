package pgoutbox_test

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is migrate.sql of commit 8cb784d, the last release before
// migrations were versioned; previousSchema fills it in as that release's
// New did.
//
//go:embed testdata/8cb784d/migrate.sql
var previousSQL string

func previousSchema(t *testing.T, pool *pgxpool.Pool, cfg pgoutbox.Config) {
	t.Helper()
	quote := func(name string) string { return `"` + strings.ReplaceAll(name, ".", `"."`) + `"` }
	tname := cfg.Table[strings.LastIndex(cfg.Table, ".")+1:]
	dname := cfg.DeadLetterTable[strings.LastIndex(cfg.DeadLetterTable, ".")+1:]
	fn := tname + "_notify"
	if i := strings.LastIndex(cfg.Table, "."); i >= 0 {
		fn = cfg.Table[:i] + "." + fn
	}
	r := strings.NewReplacer(
		"{{table}}", quote(cfg.Table), "{{dead_table}}", quote(cfg.DeadLetterTable),
		"{{pending_index}}", quote(tname+"_pending"), "{{key_index}}", quote(tname+"_key"),
		"{{retry_index}}", quote(tname+"_retry"), "{{published_index}}", quote(tname+"_published"),
		"{{dead_key_index}}", quote(dname+"_key"), "{{dead_id_index}}", quote(dname+"_id"),
		"{{notify_function}}", quote(fn), "{{notify_trigger}}", quote(tname+"_notify"), "{{channel}}", cfg.Channel,
	)
	_, err := pool.Exec(context.Background(), r.Replace(previousSQL))
	require.NoError(t, err)
}

// TestMigrateUpgradesThePreviousRelease: an outbox made and filled by the
// release before versioned migrations (tables, no migrations table) is
// adopted by Migrate and brought to the latest version with its messages
// and dead letters intact. With long table names, whose derived names
// PostgreSQL cut (61 bytes: two indexes under one cut name, the second
// skipped; 63: every index skipped), the upgrade creates the missing
// indexes and drops those left under cut names, the trigger included.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	_, refPool := newStore(t)
	wantPending := pgtest.Indexes(t, refPool, "outbox_messages")
	wantDead := pgtest.Indexes(t, refPool, "outbox_dead_letters")

	for _, tc := range []struct {
		name        string
		table, dead func(schema string) string
	}{
		{"default names", func(string) string { return "" }, func(string) string { return "" }},
		{"61-byte names", func(string) string { return "o" + strings.Repeat("m", 60) }, func(string) string { return "d" + strings.Repeat("d", 60) }},
		{"63-byte names in a schema", func(s string) string { return s + ".o" + strings.Repeat("m", 62) }, func(s string) string { return s + ".d" + strings.Repeat("d", 62) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema, dsn := pgtest.Schema(t)
			pool, err := pgxpool.New(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			cfg := pgoutbox.Config{Table: tc.table(schema), DeadLetterTable: tc.dead(schema), Channel: schema}
			full := cfg
			if full.Table == "" {
				full.Table, full.DeadLetterTable = pgoutbox.DefaultConfig().Table, pgoutbox.DefaultConfig().DeadLetterTable
			}
			previousSchema(t, pool, full)

			// Rows as the previous release wrote them: its Enqueue's INSERT,
			// a retry recorded on the key's head, a kept published message
			// and a dead letter.
			at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			_, err = pool.Exec(ctx, `INSERT INTO `+quoted(full.Table)+` (id, topic, key, payload, headers, created_at) VALUES
				('11111111-1111-1111-1111-111111111111', 'orders', 'k1', '\x0102'::bytea, '{"trace":"abc"}'::jsonb, $1),
				('22222222-2222-2222-2222-222222222222', 'orders', 'k1', 'second', NULL, $1),
				('33333333-3333-3333-3333-333333333333', 'orders', 'k2', 'kept', NULL, $1)`, at)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `UPDATE `+quoted(full.Table)+` SET attempts = 1, retry_at = $1, last_error = 'broker down'
				WHERE id = '11111111-1111-1111-1111-111111111111'`, at.Add(time.Second))
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `UPDATE `+quoted(full.Table)+` SET published_at = $1 WHERE key = 'k2'`, at)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `INSERT INTO `+quoted(full.DeadLetterTable)+`
				(seq, id, topic, key, payload, headers, created_at, attempts, last_error, dead_at) VALUES
				(100, '44444444-4444-4444-4444-444444444444', 'orders', 'k3', 'dead', '{"h":"v"}', $1, 5, 'rejected', $1)`, at)
			require.NoError(t, err)

			s, err := pgoutbox.New(pool, cfg)
			require.NoError(t, err)
			pgtest.MigrateConcurrently(t, 3, s.Migrate)
			assert.Equal(t, 2, pgtest.Version(t, pool, "pgoutbox", full.Table))
			assert.Equal(t, wantPending, pgtest.Indexes(t, pool, full.Table), "every index, none twice")
			assert.Equal(t, wantDead, pgtest.Indexes(t, pool, full.DeadLetterTable))
			assert.Equal(t, 1, pgtest.Triggers(t, pool, full.Table), "one notify trigger")
			assert.Equal(t, 1, pgtest.Functions(t, pool, schema), "one notify function")

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
			assert.Equal(t, "second", string(msgs[1].Payload))
			require.NoError(t, b.Release(ctx))
			dead, err := s.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 10})
			require.NoError(t, err)
			require.Len(t, dead, 1)
			assert.Equal(t, "dead", string(dead[0].Payload))
			assert.Equal(t, "rejected", dead[0].LastError)
			n, err := s.Cleanup(ctx, at.Add(time.Hour))
			require.NoError(t, err)
			assert.Equal(t, 1, n, "the kept published message")
		})
	}
}

func quoted(table string) string { return `"` + strings.ReplaceAll(table, ".", `"."`) + `"` }

// TestMigrateUpgradesOutboxesSharingACutFunction: two outboxes of one
// schema whose derived function names PostgreSQL cut to one name (a table
// of 61 bytes and one named like its function cut) shared one notify
// function in the previous release. Upgrading one leaves the function to
// the other until it is upgraded too.
func TestMigrateUpgradesOutboxesSharingACutFunction(t *testing.T) {
	ctx := context.Background()
	schema, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	first := "o" + strings.Repeat("m", 60)
	var stores []*pgoutbox.Store
	for i, table := range []string{first, first + "_n"} {
		cfg := pgoutbox.Config{Table: table, DeadLetterTable: fmt.Sprintf("dead_%d", i), Channel: fmt.Sprintf("%s_%d", schema, i)}
		previousSchema(t, pool, cfg)
		s, err := pgoutbox.New(pool, cfg)
		require.NoError(t, err)
		stores = append(stores, s)
		assert.Equal(t, 1, pgtest.Functions(t, pool, schema), "outbox %d uses the first one's function", i)
	}
	require.NoError(t, stores[0].Migrate(ctx))
	assert.Equal(t, 2, pgtest.Functions(t, pool, schema), "the cut one, still used by the second outbox, and the first's own")
	require.NoError(t, stores[1].Migrate(ctx))
	assert.Equal(t, 2, pgtest.Functions(t, pool, schema), "one per outbox")
	for _, s := range stores {
		require.NoError(t, enqueueTx(s, pool)(ctx, outbox.NewMessage("t", "k", nil)))
	}
}
