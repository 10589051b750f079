package pgtest_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPoolUsesItsOwnSchema(t *testing.T) {
	a, b := pgtest.Pool(t), pgtest.Pool(t)
	ctx := context.Background()
	var sa, sb string
	require.NoError(t, a.QueryRow(ctx, "SELECT current_schema()").Scan(&sa))
	require.NoError(t, b.QueryRow(ctx, "SELECT current_schema()").Scan(&sb))
	assert.NotEqual(t, sa, sb)
	_, err := a.Exec(ctx, "CREATE TABLE things (id int)")
	require.NoError(t, err)
	_, err = b.Exec(ctx, "SELECT * FROM things")
	assert.Error(t, err, "a table in one test's schema is invisible to another")
}
