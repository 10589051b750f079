package pgoutbox_test

import (
	"context"
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

// TestLongestTableNamesKeepEveryIndex: with tables named at the longest
// length New accepts (63 bytes, PostgreSQL's limit), alone or after a
// schema, Migrate makes every index and the notify trigger that it makes
// for the default names. Index names built as table name + suffix were
// cut at 63 bytes by PostgreSQL, so several came out the same and all but
// the first were skipped.
func TestLongestTableNamesKeepEveryIndex(t *testing.T) {
	ctx := context.Background()
	ref, refPool := newStore(t)
	_ = ref
	wantPending := pgtest.Indexes(t, refPool, "outbox_messages")
	wantDead := pgtest.Indexes(t, refPool, "outbox_dead_letters")
	require.Len(t, wantPending, 5, "the primary key and four indexes")
	require.Len(t, wantDead, 3, "the primary key and two indexes")

	table := "outbox_" + strings.Repeat("m", 63-len("outbox_"))
	dead := "dead_" + strings.Repeat("d", 63-len("dead_"))
	for _, qualified := range []bool{false, true} {
		t.Run(map[bool]string{false: "unqualified", true: "schema-qualified"}[qualified], func(t *testing.T) {
			schema, dsn := pgtest.Schema(t)
			pool, err := pgxpool.New(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			cfg := pgoutbox.Config{Table: table, DeadLetterTable: dead, Channel: schema}
			if qualified {
				cfg.Table, cfg.DeadLetterTable = schema+"."+table, schema+"."+dead
			}
			s, err := pgoutbox.New(pool, cfg)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			assert.Equal(t, wantPending, pgtest.Indexes(t, pool, cfg.Table))
			assert.Equal(t, wantDead, pgtest.Indexes(t, pool, cfg.DeadLetterTable))
			assert.Equal(t, 1, pgtest.Triggers(t, pool, cfg.Table), "the notify trigger")

			require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "k", Payload: []byte("p")}))
			b, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: time.Now(), Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, b.Messages(), 1)
			require.NoError(t, b.Release(ctx))
		})
	}
}

// TestMigrateErrorsNameThePackage: a failed migration says whose, and
// which step.
func TestMigrateErrorsNameThePackage(t *testing.T) {
	pool := pgtest.Pool(t)
	s, err := pgoutbox.New(pool, pgoutbox.Config{Table: "no_such_schema.outbox", DeadLetterTable: "no_such_schema.dead"})
	require.NoError(t, err)
	err = s.Migrate(context.Background())
	assert.ErrorContains(t, err, "pgoutbox: migrating: version 1 (create the tables, indexes and notify trigger): ")
	assert.ErrorContains(t, err, "no_such_schema")
}
