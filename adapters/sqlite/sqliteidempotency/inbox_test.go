package sqliteidempotency_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteidempotency"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newInbox(t testing.TB, pool *sql.DB, fake *clocktest.Fake) *sqliteidempotency.Inbox {
	cfg := sqliteidempotency.DefaultInboxConfig()
	cfg.Store, cfg.Consumer, cfg.Retention = newStoreOn(pool), "billing", time.Hour
	if fake != nil {
		cfg.Clock = fake
	}
	in, err := sqliteidempotency.NewInbox(cfg)
	require.NoError(t, err)
	return in
}

func setUpInbox(t *testing.T) *sql.DB {
	pool := sqlitetest.Open(t)
	newStore(t, pool)
	_, err := pool.Exec(`CREATE TABLE effects (message_id TEXT NOT NULL)`)
	require.NoError(t, err)
	return pool
}

// effect is a handler's own write.
func effect(id string) func(ctx context.Context, tx *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id) VALUES (?)`, id)
		return err
	}
}

func effects(t *testing.T, pool *sql.DB, id string) int {
	var n int
	require.NoError(t, pool.QueryRow(`SELECT count(*) FROM effects WHERE message_id = ?`, id).Scan(&n))
	return n
}

func TestInboxProcessesEachMessageOnce(t *testing.T) {
	pool := setUpInbox(t)
	var dups []string
	cfg := sqliteidempotency.DefaultInboxConfig()
	cfg.Store, cfg.Consumer = newStoreOn(pool), "billing"
	cfg.OnDuplicate = func(id string) { dups = append(dups, id) }
	in, err := sqliteidempotency.NewInbox(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	for range 3 {
		_, err := in.Process(ctx, "m-1", effect("m-1"))
		require.NoError(t, err)
	}
	assert.Equal(t, 1, effects(t, pool, "m-1"))
	assert.Equal(t, []string{"m-1", "m-1"}, dups)
	cfg.Consumer = "shipping"
	shipping, err := sqliteidempotency.NewInbox(cfg)
	require.NoError(t, err)
	ran, err := shipping.Process(ctx, "m-1", effect("m-1"))
	require.NoError(t, err)
	assert.True(t, ran, "another consumer processes the message too")
}

func TestInboxFailureRollsBackTheRecordWithTheWrites(t *testing.T) {
	pool := setUpInbox(t)
	in := newInbox(t, pool, nil)
	ctx := context.Background()
	errLater := errors.New("downstream unavailable")
	ran, err := in.Process(ctx, "m-1", func(ctx context.Context, tx *sql.Tx) error {
		require.NoError(t, effect("m-1")(ctx, tx))
		return errLater
	})
	assert.True(t, ran)
	require.ErrorIs(t, err, errLater)
	assert.Zero(t, effects(t, pool, "m-1"), "the failed attempt's write is rolled back")
	ran, err = in.Process(ctx, "m-1", effect("m-1"))
	require.NoError(t, err)
	assert.True(t, ran, "the redelivery after a failure runs")
	assert.Equal(t, 1, effects(t, pool, "m-1"))
	assert.Panics(t, func() {
		_, _ = in.Process(ctx, "m-2", func(ctx context.Context, tx *sql.Tx) error {
			require.NoError(t, effect("m-2")(ctx, tx))
			panic("bug")
		})
	})
	ran, err = in.Process(ctx, "m-2", effect("m-2"))
	require.NoError(t, err)
	assert.True(t, ran, "a panic rolls back too")
	assert.Equal(t, 1, effects(t, pool, "m-2"))
}

func TestInboxConcurrentDeliveries(t *testing.T) {
	pool := setUpInbox(t)
	in := newInbox(t, pool, nil)
	const messages, deliveries = 5, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ranCount := map[string]int{}
	for i := range messages * deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("m-", i%messages)
			ran, err := in.Process(context.Background(), id, effect(id))
			assert.NoError(t, err)
			if ran {
				mu.Lock()
				ranCount[id]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := range messages {
		id := fmt.Sprint("m-", i)
		assert.Equal(t, 1, effects(t, pool, id), id)
		assert.Equal(t, 1, ranCount[id], id)
	}
	t.Logf("%d concurrent deliveries of %d messages: each handled once (effects counted in the database)", messages*deliveries, messages)
}

func TestInboxRetentionAndCleanup(t *testing.T) {
	pool := setUpInbox(t)
	fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	in := newInbox(t, pool, fake)
	ctx := context.Background()
	_, err := in.Process(ctx, "m-1", effect("m-1"))
	require.NoError(t, err)
	fake.Advance(time.Hour - time.Millisecond)
	n, err := in.Cleanup(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	ran, err := in.Process(ctx, "m-1", effect("m-1"))
	require.NoError(t, err)
	assert.False(t, ran)
	fake.Advance(time.Millisecond)
	n, err = in.Cleanup(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ran, err = in.Process(ctx, "m-1", effect("m-1"))
	require.NoError(t, err)
	assert.True(t, ran, "after the retention the ID is forgotten")
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

// runInboxHolder is a child process: it handles message m-1, writes its
// effect inside the transaction and hangs there until killed.
func runInboxHolder() {
	pool := childDB()
	cfg := sqliteidempotency.DefaultInboxConfig()
	cfg.Store, cfg.Consumer = newStoreOn(pool), "billing"
	in, err := sqliteidempotency.NewInbox(cfg)
	if err != nil {
		panic(err)
	}
	_, _ = in.Process(context.Background(), "m-1", func(ctx context.Context, tx *sql.Tx) error {
		if err := effect("m-1")(ctx, tx); err != nil {
			return err
		}
		os.Stdout.WriteString("holding\n")
		select {}
	})
}

func TestInboxConsumerKilledMidTransaction(t *testing.T) {
	testenv.SkipUnderRace(t)
	path := sqlitetest.Path(t)
	pool, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	defer pool.Close()
	newStore(t, pool)
	_, err = pool.Exec(`CREATE TABLE effects (message_id TEXT NOT NULL)`)
	require.NoError(t, err)

	child := testenv.Command(t, "inbox-holder", pathVar+"="+path)
	child.Stdout = nil
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "holding\n", line)
	require.NoError(t, child.Process.Kill())
	_ = child.Wait()

	in := newInbox(t, pool, nil)
	// The killed process's transaction never committed: SQLite's journal
	// drops it when the next writer takes the lock.
	ran, err := in.Process(context.Background(), "m-1", effect("m-1"))
	require.NoError(t, err)
	assert.True(t, ran, "the killed consumer's record was rolled back with its write")
	assert.Equal(t, 1, effects(t, pool, "m-1"))
	ran, err = in.Process(context.Background(), "m-1", effect("m-1"))
	require.NoError(t, err)
	assert.False(t, ran)
	t.Logf("consumer killed mid-transaction: its write and record rolled back; the redelivery ran once (1 effect), the next was skipped")
}
