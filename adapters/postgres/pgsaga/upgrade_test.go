package pgsaga_test

import (
	"context"
	_ "embed"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previousSQL is schema.sql of commit 8cb784d, the last release before
// migrations were versioned.
//
//go:embed testdata/8cb784d/schema.sql
var previousSQL string

// TestLongestTableNameKeepsEveryIndex: with the table named at the longest
// length New accepts (63 bytes), alone or after a schema, Migrate makes
// the indexes it makes for the default name. Their names, table name +
// suffix, were both cut by PostgreSQL to the table's own name, and both
// indexes skipped.
func TestLongestTableNameKeepsEveryIndex(t *testing.T) {
	ctx := context.Background()
	_, dsn := pgtest.Schema(t)
	ref := pool(t, dsn)
	newStore(t, ref)
	want := pgtest.Indexes(t, ref, "sagas")
	require.Len(t, want, 3, "the primary key and two indexes")

	table := "sagas_" + strings.Repeat("s", 63-len("sagas_"))
	for _, qualified := range []bool{false, true} {
		t.Run(map[bool]string{false: "unqualified", true: "schema-qualified"}[qualified], func(t *testing.T) {
			schema, dsn := pgtest.Schema(t)
			db := pool(t, dsn)
			cfg := pgsaga.Config{Table: table}
			if qualified {
				cfg.Table = schema + "." + table
			}
			s, err := pgsaga.New(db, cfg)
			require.NoError(t, err)
			require.NoError(t, s.Migrate(ctx))
			assert.Equal(t, want, pgtest.Indexes(t, db, cfg.Table))
			now := time.Now()
			require.NoError(t, s.Create(ctx, saga.Record{ID: "s1", Name: "order", Status: saga.Running, Version: 1, CreatedAt: now, UpdatedAt: now}))
			claimed, err := s.Claim(ctx, "order", "me", now, now.Add(time.Minute), 10)
			require.NoError(t, err)
			assert.Len(t, claimed, 1)
		})
	}
}

// TestMigrateUpgradesThePreviousRelease: a table made and filled by the
// release before versioned migrations (no migrations table) is adopted by
// Migrate and brought to the latest version with its sagas intact. With a
// 63-byte table name, whose index names PostgreSQL cut to the table's own
// (so both indexes were skipped), or a 62-byte one (the two cut to one
// name, the second skipped), the upgrade creates the indexes and drops
// the one left under a cut name.
func TestMigrateUpgradesThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	_, refDSN := pgtest.Schema(t)
	ref := pool(t, refDSN)
	newStore(t, ref)
	want := pgtest.Indexes(t, ref, "sagas")

	for _, tc := range []struct {
		name  string
		table func(schema string) string
	}{
		{"default name", func(string) string { return "" }},
		{"62-byte name", func(string) string { return "s" + strings.Repeat("s", 61) }},
		{"63-byte name in a schema", func(s string) string { return s + ".s" + strings.Repeat("s", 62) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			schema, dsn := pgtest.Schema(t)
			db := pool(t, dsn)
			table := tc.table(schema)
			full := table
			if full == "" {
				full = pgsaga.DefaultConfig().Table
			}
			quoted := pgx.Identifier(strings.Split(full, ".")).Sanitize()
			name := full[strings.LastIndex(full, ".")+1:]
			_, err := db.Exec(ctx, strings.NewReplacer("{{table}}", quoted,
				"{{claim_index}}", pgx.Identifier{name + "_claim"}.Sanitize(),
				"{{status_index}}", pgx.Identifier{name + "_status"}.Sanitize()).Replace(previousSQL))
			require.NoError(t, err)

			// Sagas as the previous release's Create wrote them: one whose
			// owner died (its lease over), one needing attention.
			at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			for _, r := range []struct{ id, status string }{{"order-1", "running"}, {"order-2", "needs_attention"}} {
				_, err = db.Exec(ctx, `INSERT INTO `+quoted+` (id, name, status, step, data, error, deadline, owner, lease_until, version, created_at, updated_at)
					VALUES ($1, 'order', $2, 1, '\x7b7d', '', '0001-01-01', 'dead-owner', $3, 3, $3, $3)`, r.id, r.status, at)
				require.NoError(t, err)
			}

			s, err := pgsaga.New(db, pgsaga.Config{Table: table})
			require.NoError(t, err)
			pgtest.MigrateConcurrently(t, 3, s.Migrate)
			assert.Equal(t, 2, pgtest.Version(t, db, "pgsaga", full))
			assert.Equal(t, want, pgtest.Indexes(t, db, full), "every index, none twice")

			got, err := s.Get(ctx, "order-2")
			require.NoError(t, err)
			assert.Equal(t, saga.NeedsAttention, got.Status)
			assert.Equal(t, "{}", string(got.Data))
			claimed, err := s.Claim(ctx, "order", "new-owner", at.Add(time.Minute), at.Add(time.Hour), 10)
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			assert.Equal(t, "order-1", claimed[0].ID)
			assert.Equal(t, int64(4), claimed[0].Version)
		})
	}
}

func TestMigrateOnAStoreMadeWithoutNewPanics(t *testing.T) {
	assert.PanicsWithValue(t, "pgsaga: Store used without New", func() { _ = new(pgsaga.Store).Migrate(context.Background()) })
}
