package sqliteidempotency_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inboxHarness gives the inbox suite inboxes over the store in db and the
// effects table, both already created.
func inboxHarness(db *sql.DB) idempotencytest.InboxHarness[*sql.Tx] {
	return idempotencytest.InboxHarness[*sql.Tx]{
		NewInbox: func(s idempotencytest.InboxSettings) (idempotencytest.TxInbox[*sql.Tx], error) {
			cfg := sqliteidempotency.DefaultInboxConfig()
			cfg.Store, cfg.Consumer, cfg.Retention = newStoreOn(db), s.Consumer, s.Retention
			cfg.Clock, cfg.OnDuplicate = s.Clock, s.OnDuplicate
			return sqliteidempotency.NewInbox(cfg)
		},
		Effect: func(ctx context.Context, tx *sql.Tx, messageID string) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id) VALUES (?)`, messageID)
			return err
		},
		Effects: func(t *testing.T, messageID string) int {
			var n int
			require.NoError(t, db.QueryRow(`SELECT count(*) FROM effects WHERE message_id = ?`, messageID).Scan(&n))
			return n
		},
	}
}

// setUpInbox creates the store's table and the effects table in db.
func setUpInbox(t *testing.T, db *sql.DB) idempotencytest.InboxHarness[*sql.Tx] {
	newStore(t, db)
	_, err := db.Exec(`CREATE TABLE effects (message_id TEXT NOT NULL)`)
	require.NoError(t, err)
	return inboxHarness(db)
}

func TestInbox(t *testing.T) {
	idempotencytest.RunInbox(t, func(t *testing.T) idempotencytest.InboxHarness[*sql.Tx] {
		return setUpInbox(t, sqlitetest.Open(t))
	})
}

func TestNewInboxRejectsInvalidConfig(t *testing.T) {
	s := newStoreOn(&sql.DB{})
	for _, tc := range []struct {
		cfg  sqliteidempotency.InboxConfig
		want string
	}{
		{sqliteidempotency.InboxConfig{Consumer: "c", Retention: time.Hour}, "InboxConfig.Store must be set"},
		{sqliteidempotency.InboxConfig{Store: s, Retention: time.Hour}, "InboxConfig.Consumer must not be empty"},
		{sqliteidempotency.InboxConfig{Store: s, Consumer: "c"}, "InboxConfig.Retention must be > 0, got 0s"},
	} {
		_, err := sqliteidempotency.NewInbox(tc.cfg)
		assert.EqualError(t, err, "sqliteidempotency: "+tc.want)
	}
}

// runInboxHolder is the child process of TestInboxConsumerKilledMidTransaction.
func runInboxHolder() { idempotencytest.InboxHolderChild(inboxHarness(childDB())) }

// TestInboxConsumerKilledMidTransaction: the killed consumer's transaction
// never committed, and SQLite's journal drops it when the next writer takes
// the lock.
func TestInboxConsumerKilledMidTransaction(t *testing.T) {
	testenv.SkipUnderRace(t)
	path := sqlitetest.Path(t)
	db, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer db.Close()
	idempotencytest.KilledInboxConsumer(t, setUpInbox(t, db), testenv.Command(t, "inbox-holder", pathVar+"="+path))
}
