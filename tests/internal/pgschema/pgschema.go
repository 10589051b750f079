// Package pgschema gives a fault test a PostgreSQL schema of its own on
// BULWARK_POSTGRES_DSN, so that tests sharing the server never see each
// other's tables.
package pgschema

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// New creates a schema named prefix plus random hex, dropped with all it
// holds when the test ends, and returns its name and a DSN whose
// search_path is that schema (skipping or failing the test as
// testenv.Service does when BULWARK_POSTGRES_DSN is unset).
func New(t *testing.T, prefix string) (schema, dsn string) {
	t.Helper()
	base := testenv.PostgresDSN(t)
	var b [6]byte
	_, _ = crand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return schema, u.String()
}
