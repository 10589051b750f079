// Package benchpg gives each PostgreSQL benchmark a schema of its own.
package benchpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool creates a fresh schema on BULWARK_POSTGRES_DSN (skipping tb when it
// is unset, as testenv.PostgresDSN does) and returns a pool whose
// connections use it, with the schema's name. configure, when not nil,
// adjusts the pool's settings first (connections, a tracer). When tb ends
// the pool is closed and the schema dropped.
func Pool(tb testing.TB, configure func(*pgxpool.Config)) (*pgxpool.Pool, string) {
	tb.Helper()
	dsn := testenv.PostgresDSN(tb)
	ctx := context.Background()
	var r [6]byte
	_, _ = rand.Read(r[:])
	schema := "bench_" + hex.EncodeToString(r[:])
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close) // runs before the drop: cleanups run last first
	return pool, schema
}
