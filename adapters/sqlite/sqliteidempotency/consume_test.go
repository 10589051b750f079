package sqliteidempotency_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsumerWithInboxAppliesEachEffectOnce: a consume.Consumer whose
// handler writes through consume.InboxHandler over an Inbox, on a queue
// that delivers every message twice and fails some handlers after their
// write (rolled back), restarted midway: each message's effect is in the
// table exactly once, each key's effects in publish order.
func TestConsumerWithInboxAppliesEachEffectOnce(t *testing.T) {
	db := sqlitetest.Open(t)
	newStore(t, db)
	_, err := db.Exec(`CREATE TABLE effects (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL, key TEXT NOT NULL)`)
	require.NoError(t, err)
	in, err := sqliteidempotency.NewInbox(newStoreOn(db), sqliteidempotency.InboxConfig{Consumer: "orders"})
	require.NoError(t, err)

	q := consume.NewMemoryQueue(nil)
	const n, keys = 60, 4
	for i := range n {
		m := consume.Message{ID: fmt.Sprintf("m%d", i), Key: fmt.Sprintf("k%d", i%keys), Payload: fmt.Append(nil, i)}
		q.Publish(m, m) // every message twice: a duplicate from the broker or the outbox
	}
	var mu sync.Mutex
	calls := 0
	failedOnce := map[string]bool{}
	h := consume.InboxHandler(in, func(ctx context.Context, tx *sql.Tx, m *consume.Message) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id, key) VALUES (?, ?)`, m.ID, m.Key); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		calls++
		if i := len(m.ID); m.ID[i-1] == '7' && !failedOnce[m.ID] { // m7, m17, …: fail after the write
			failedOnce[m.ID] = true
			return errors.New("downstream failed after the write")
		}
		return nil
	})
	cfg := consume.Config{Concurrency: 4, Redelivery: retry.Constant{Delay: time.Millisecond}, InPlaceBackoff: retry.Constant{}}
	runUntil := func(done func() bool) {
		c, err := consume.New(q.Source(), h, cfg)
		require.NoError(t, err)
		ran := make(chan error, 1)
		go func() { ran <- c.Run(context.Background()) }()
		require.Eventually(t, done, 20*time.Second, time.Millisecond)
		require.NoError(t, c.Close(context.Background()))
		require.NoError(t, <-ran)
	}
	runUntil(func() bool { return q.Acked() >= n/2 })
	runUntil(func() bool { return q.Len() == 0 }) // a restart, on a new Source

	rows, err := db.Query(`SELECT message_id, key FROM effects ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	count := map[string]int{}
	order := map[string][]string{}
	for rows.Next() {
		var id, key string
		require.NoError(t, rows.Scan(&id, &key))
		count[id]++
		order[key] = append(order[key], id)
	}
	require.NoError(t, rows.Err())
	for i := range n {
		assert.Equal(t, 1, count[fmt.Sprintf("m%d", i)], "effects of m%d", i)
	}
	for k := range keys {
		var want []string
		for i := k; i < n; i += keys {
			want = append(want, fmt.Sprintf("m%d", i))
		}
		assert.Equal(t, want, order[fmt.Sprintf("k%d", k)], "key k%d's effects in publish order", k)
	}
	assert.Equal(t, 2*n, q.Acked(), "every delivery, duplicates included, acknowledged")
	assert.Equal(t, n+len(failedOnce), calls, "handle ran once per message, plus once per rolled-back failure; never for a duplicate")
}
