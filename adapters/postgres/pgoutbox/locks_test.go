package pgoutbox_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnqueueKeyLocksKeepTheirValues: processes of the previous release
// enqueue beside this one's during a rolling upgrade, and a key's messages
// stay in commit order only if both take the same lock for a key. The
// values are the previous release's (FNV-1a 64 of the table name, 0x00,
// the key), one lock per distinct key.
func TestEnqueueKeyLocksKeepTheirValues(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	require.NoError(t, s.Enqueue(ctx, tx, outbox.NewMessage("t", "order-1", nil), outbox.NewMessage("t", "order-2", nil), outbox.NewMessage("t", "order-1", nil)))
	pid := tx.Conn().PgConn().PID()
	assert.Equal(t, []string{"int8 -4298697712097669062", "int8 -4298698811609297273"}, pgtest.AdvisoryLocks(t, pool, pid))
}
