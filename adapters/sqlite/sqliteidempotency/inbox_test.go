package sqliteidempotency_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inboxHarness gives the inbox suite inboxes over the store in db and the
// effects table, both already created.
func inboxHarness(db *sql.DB) idempotencytest.InboxHarness[*sql.Tx] {
	return idempotencytest.InboxHarness[*sql.Tx]{
		NewInbox: func(s idempotencytest.InboxSettings) (idempotencytest.TxInbox[*sql.Tx], error) {
			return sqliteidempotency.NewInbox(newStoreOn(db), sqliteidempotency.InboxConfig{
				Consumer: s.Consumer, Retention: s.Retention, Clock: s.Clock, Observer: s.Observer,
			})
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
func setUpInbox(t testing.TB, db *sql.DB) idempotencytest.InboxHarness[*sql.Tx] {
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
	_, err := sqliteidempotency.NewInbox(nil, sqliteidempotency.InboxConfig{})
	assert.EqualError(t, err, "sqliteidempotency: NewInbox needs a store, got nil")
	_, err = sqliteidempotency.NewInbox(newStoreOn(&sql.DB{}), sqliteidempotency.InboxConfig{Retention: -time.Hour})
	assert.EqualError(t, err, "sqliteidempotency: InboxConfig.Retention must be 0 (meaning 168h0m0s) or at least 1ms, got -1h0m0s")
	assert.PanicsWithValue(t, "sqliteidempotency: Inbox used without NewInbox", func() { _, _ = new(sqliteidempotency.Inbox).Cleanup(context.Background()) })
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
	h := setUpInbox(f, sqlitetest.Open(f))
	f.Fuzz(func(t *testing.T, consumer string, retention int64) {
		if _, err := sqliteidempotency.NewInbox(newStoreOn(&sql.DB{}), sqliteidempotency.InboxConfig{Consumer: consumer, Retention: time.Duration(retention)}); err != nil {
			require.ErrorContains(t, err, "sqliteidempotency: InboxConfig.Retention")
			return
		}
		want := time.Duration(retention)
		if want == 0 {
			want = sqliteidempotency.DefaultRetention
		}
		idempotencytest.CheckInbox(t, h, idempotencytest.InboxSettings{Consumer: consumer, Retention: time.Duration(retention)}, want)
	})
}

// openInbox opens the parent's inbox harness in the child process of
// TestInboxConsumerKilledMidTransaction.
func openInbox(ctx context.Context) (idempotencytest.InboxHarness[*sql.Tx], error) {
	db, err := sqlite.Open(ctx, os.Getenv(pathVar))
	return inboxHarness(db), err
}

// TestInboxConsumerKilledMidTransaction: the killed consumer's transaction
// never committed, and SQLite's journal drops it when the next writer takes
// the lock.
func TestInboxConsumerKilledMidTransaction(t *testing.T) {
	idempotencytest.RunKilledInboxConsumer(t, func(t *testing.T) idempotencytest.KilledInboxHarness[*sql.Tx] {
		db, path := fileDB(t)
		return idempotencytest.KilledInboxHarness[*sql.Tx]{Inbox: setUpInbox(t, db), ChildEnv: []string{pathVar + "=" + path}}
	})
}
