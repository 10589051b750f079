package pgidempotency_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/testenv"
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
			cfg := pgidempotency.DefaultInboxConfig()
			cfg.Store, cfg.Consumer, cfg.Retention = newStoreOn(pool), s.Consumer, s.Retention
			cfg.Clock, cfg.OnDuplicate = s.Clock, s.OnDuplicate
			return pgidempotency.NewInbox(cfg)
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
func setUpInbox(t *testing.T, pool *pgxpool.Pool) idempotencytest.InboxHarness[pgx.Tx] {
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
	s := newStoreOn(&pgxpool.Pool{})
	for _, tc := range []struct {
		cfg  pgidempotency.InboxConfig
		want string
	}{
		{pgidempotency.InboxConfig{Consumer: "c", Retention: time.Hour}, "InboxConfig.Store must be set"},
		{pgidempotency.InboxConfig{Store: s, Retention: time.Hour}, "InboxConfig.Consumer must not be empty"},
		{pgidempotency.InboxConfig{Store: s, Consumer: "c"}, "InboxConfig.Retention must be > 0, got 0s"},
	} {
		_, err := pgidempotency.NewInbox(tc.cfg)
		assert.EqualError(t, err, "pgidempotency: "+tc.want)
	}
}

// runInboxHolder is the child process of TestInboxConsumerKilledMidTransaction.
func runInboxHolder() {
	pool, err := pgxpool.New(context.Background(), os.Getenv(dsnVar))
	if err != nil {
		panic(err)
	}
	idempotencytest.InboxHolderChild(inboxHarness(pool))
}

// TestInboxConsumerKilledMidTransaction: the server notices the killed
// consumer's dead connection and rolls its transaction back; until then the
// redelivery waits on the message's row.
func TestInboxConsumerKilledMidTransaction(t *testing.T) {
	testenv.SkipUnderRace(t)
	_, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	defer pool.Close()
	idempotencytest.KilledInboxConsumer(t, setUpInbox(t, pool), testenv.Command(t, "inbox-holder", dsnVar+"="+dsn))
}
