package pgidempotency_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inboxHarness gives the inbox suite inboxes over the store on pool and
// the effects table, both already created.
func inboxHarness(pool *pgxpool.Pool) idempotencytest.InboxHarness[pgx.Tx] {
	return idempotencytest.InboxHarness[pgx.Tx]{
		NewInbox: func(s idempotencytest.InboxSettings) (idempotencytest.TxInbox[pgx.Tx], error) {
			return pgidempotency.NewInbox(newStoreOn(pool), pgidempotency.InboxConfig{
				Consumer: s.Consumer, Retention: s.Retention, Clock: s.Clock, Observer: s.Observer,
			})
		},
		Effect: func(ctx context.Context, tx pgx.Tx, messageID string) error {
			_, err := tx.Exec(ctx, `INSERT INTO effects (message_id) VALUES ($1)`, messageID)
			return err
		},
		Effects: func(t *testing.T, messageID string) int {
			var n int
			require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM effects WHERE message_id = $1`, messageID).Scan(&n))
			return n
		},
	}
}

// setUpInbox creates the store's table and the effects table on pool.
func setUpInbox(t testing.TB, pool *pgxpool.Pool) idempotencytest.InboxHarness[pgx.Tx] {
	newStore(t, pool)
	_, err := pool.Exec(context.Background(), `CREATE TABLE effects (message_id TEXT NOT NULL)`)
	require.NoError(t, err)
	return inboxHarness(pool)
}

func TestInbox(t *testing.T) {
	idempotencytest.RunInbox(t, func(t *testing.T) idempotencytest.InboxHarness[pgx.Tx] {
		return setUpInbox(t, pgtest.Pool(t))
	})
}

func TestNewInboxRejectsInvalidConfig(t *testing.T) {
	_, err := pgidempotency.NewInbox(nil, pgidempotency.InboxConfig{})
	assert.EqualError(t, err, "pgidempotency: NewInbox needs a store, got nil")
	_, err = pgidempotency.NewInbox(newStoreOn(&pgxpool.Pool{}), pgidempotency.InboxConfig{Retention: -time.Hour})
	assert.EqualError(t, err, "pgidempotency: InboxConfig.Retention must be 0 (meaning 168h0m0s) or at least 1ms, got -1h0m0s")
	assert.PanicsWithValue(t, "pgidempotency: Inbox used without NewInbox", func() { _, _ = new(pgidempotency.Inbox).Cleanup(context.Background()) })
}

// FuzzNewInbox feeds NewInbox arbitrary consumers and retentions: an
// error naming InboxConfig.Retention, or an inbox that processes a
// message once and forgets it when its retention ends.
func FuzzNewInbox(f *testing.F) {
	f.Add("", int64(0))
	f.Add("billing", int64(time.Hour))
	f.Add("a\x00b", int64(-1))
	f.Add("ünï", int64(time.Millisecond))
	f.Add("x", int64(1<<62))
	h := setUpInbox(f, pgtest.Pool(f))
	f.Fuzz(func(t *testing.T, consumer string, retention int64) {
		if _, err := pgidempotency.NewInbox(newStoreOn(&pgxpool.Pool{}), pgidempotency.InboxConfig{Consumer: consumer, Retention: time.Duration(retention)}); err != nil {
			require.ErrorContains(t, err, "pgidempotency: InboxConfig.Retention")
			return
		}
		want := time.Duration(retention)
		if want == 0 {
			want = pgidempotency.DefaultRetention
		}
		idempotencytest.CheckInbox(t, h, idempotencytest.InboxSettings{Consumer: consumer, Retention: time.Duration(retention)}, want)
	})
}

// openInbox opens the parent's inbox harness in the child process of
// TestInboxConsumerKilledMidTransaction.
func openInbox(ctx context.Context) (idempotencytest.InboxHarness[pgx.Tx], error) {
	pool, err := childPool(ctx)
	return inboxHarness(pool), err
}

// TestInboxConsumerKilledMidTransaction: the server notices the killed
// consumer's dead connection and rolls its transaction back; until then the
// redelivery waits on the message's row.
func TestInboxConsumerKilledMidTransaction(t *testing.T) {
	idempotencytest.RunKilledInboxConsumer(t, func(t *testing.T) idempotencytest.KilledInboxHarness[pgx.Tx] {
		pool, dsn := schemaPool(t)
		return idempotencytest.KilledInboxHarness[pgx.Tx]{Inbox: setUpInbox(t, pool), ChildEnv: []string{dsnVar + "=" + dsn}}
	})
}
