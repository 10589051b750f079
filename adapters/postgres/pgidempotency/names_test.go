package pgidempotency_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLongestTableNameKeepsEveryIndex: with the table named at the longest
// length New accepts (63 bytes), alone or after a schema, Migrate makes
// the expiry index it makes for the default name. Its name, built as table
// name + suffix, was cut at 63 bytes by PostgreSQL to the table's own name,
// and the index was skipped.
func TestLongestTableNameKeepsEveryIndex(t *testing.T) {
	ctx := context.Background()
	refPool := pgtest.Pool(t)
	newStore(t, refPool)
	want := pgtest.Indexes(t, refPool, pgidempotency.DefaultTable)
	require.Len(t, want, 2, "the primary key and the expiry index")

	table := "keys_" + strings.Repeat("k", 63-len("keys_"))
	for _, qualified := range []bool{false, true} {
		t.Run(map[bool]string{false: "unqualified", true: "schema-qualified"}[qualified], func(t *testing.T) {
			schema, dsn := pgtest.Schema(t)
			pool, err := pgxpool.New(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			cfg := pgidempotency.Config{Table: table}
			if qualified {
				cfg.Table = schema + "." + table
			}
			s, err := pgidempotency.New(pool, cfg)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			assert.Equal(t, want, pgtest.Indexes(t, pool, cfg.Table))

			now := time.Now()
			rec, err := s.Claim(ctx, idempotency.Claim{Ref: idempotency.Ref{Key: "k"}, Token: 1, Now: now,
				LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
			require.NoError(t, err)
			assert.Equal(t, idempotency.Claimed, rec.State)
		})
	}
}
