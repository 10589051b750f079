// Package pgtest gives each PostgreSQL test a schema of its own on the
// server named by BULWARK_POSTGRES_DSN, so tests run in parallel across
// packages without seeing each other's tables.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Schema creates a schema with a random name, drops it (with everything in
// it) when the test ends, and returns its name and a DSN whose connections
// use it as their search_path. It skips or fails the test as
// testenv.PostgresDSN does when no server is configured.
func Schema(t testing.TB) (schema, dsn string) {
	t.Helper()
	base := testenv.PostgresDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", testenv.PostgresVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: creating schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: connecting to drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s must be a URL (postgres://...): %v", testenv.PostgresVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown URL parameters as run-time settings
	u.RawQuery = q.Encode()
	return schema, u.String()
}

// Pool returns a pool on a fresh schema (see Schema), closed when the test
// ends (before the schema is dropped).
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	_, dsn := Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgtest: opening pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// MigrateConcurrently runs migrate from n goroutines at once, as services
// starting together do, then once more, as a later restart does; every run
// must succeed.
func MigrateConcurrently(t testing.TB, n int, migrate func(context.Context) error) {
	t.Helper()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- migrate(context.Background()) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("pgtest: a concurrent Migrate failed: %v", err)
		}
	}
	if err := migrate(context.Background()); err != nil {
		t.Fatalf("pgtest: Migrate run again failed: %v", err)
	}
}
