package pgoutbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newStore migrates an outbox in a fresh schema, with a channel of its own.
func newStore(t *testing.T) (*pgoutbox.Store, *pgxpool.Pool) {
	t.Helper()
	schema, dsn := pgtest.Schema(t)
	s, pool := storeOn(t, schema, dsn)
	require.NoError(t, s.Migrate(context.Background()))
	return s, pool
}

// storeOn opens a pool on dsn and a store on it, with schema as its channel.
func storeOn(t *testing.T, schema, dsn string) (*pgoutbox.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := pgoutbox.New(pool, pgoutbox.Config{Channel: schema})
	require.NoError(t, err)
	return s, pool
}

// killApp terminates the backends of connections opened with the given
// application_name, as if their process had been killed.
func killApp(t *testing.T, pool *pgxpool.Pool, app string) {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n))
	require.Positive(t, n)
}

// enqueueTx enqueues msgs in a transaction of their own.
func enqueueTx(s *pgoutbox.Store, pool *pgxpool.Pool) func(context.Context, ...outbox.Message) error {
	return func(ctx context.Context, msgs ...outbox.Message) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return s.Enqueue(ctx, tx, msgs...) })
	}
}

func TestConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		s, pool := newStore(t)
		return outboxtest.Harness{Store: s, Enqueue: enqueueTx(s, pool)}
	})
}

func TestConformanceDatabaseSQL(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		s, pool := newStore(t)
		db := stdlib.OpenDBFromPool(pool)
		t.Cleanup(func() { db.Close() })
		return outboxtest.Harness{Store: s, Enqueue: func(ctx context.Context, msgs ...outbox.Message) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if err := s.EnqueueSQL(ctx, tx, msgs...); err != nil {
				return err
			}
			return tx.Commit()
		}}
	})
}

func TestConfigValidation(t *testing.T) {
	pool := &pgxpool.Pool{}
	for _, tc := range []struct {
		change func(*pgoutbox.Config)
		want   string
	}{
		{func(c *pgoutbox.Config) { c.Table = "x; DROP TABLE y" }, `pgoutbox: Config.Table: "x; DROP TABLE y"`},
		{func(c *pgoutbox.Config) { c.DeadLetterTable = "outbox_messages" }, "pgoutbox: Config.DeadLetterTable must differ from Table"},
		{func(c *pgoutbox.Config) { c.Channel = "a.b" }, `pgoutbox: Config.Channel must be letters, digits and underscores, got "a.b"`},
		{func(c *pgoutbox.Config) { c.Channel = "a b" }, `pgoutbox: Config.Channel must be letters, digits and underscores, got "a b"`},
		{func(c *pgoutbox.Config) { c.Table = strings.Repeat("t", 64) }, "is 64 bytes long, 1 more than the 63 allowed"},
		{func(c *pgoutbox.Config) { c.Table, c.DeadLetterTable = "o", "o_key" },
			`pgoutbox: Config.DeadLetterTable and the "key" object derived from Config.Table would both be named "o_key"`},
	} {
		var cfg pgoutbox.Config
		tc.change(&cfg)
		_, err := pgoutbox.New(pool, cfg)
		assert.ErrorContains(t, err, tc.want)
	}
	_, err := pgoutbox.New(nil, pgoutbox.Config{})
	assert.EqualError(t, err, "pgoutbox: New: pool must not be nil")
	_, err = pgoutbox.New(pool, pgoutbox.Config{})
	require.NoError(t, err)
	assert.Equal(t, migrationSQL(t, pgoutbox.DefaultConfig()), migrationSQL(t, pgoutbox.Config{}), "the zero Config is DefaultConfig")
	assert.Contains(t, migrationSQL(t, pgoutbox.Config{Table: "app.orders_outbox", DeadLetterTable: "app.orders_dead"}),
		"('orders_outbox')", "the channel defaults to the table's name")
	assert.PanicsWithValue(t, "pgoutbox: Store used without New", func() { _, _ = new(pgoutbox.Store).Stats(context.Background()) })
}

// FuzzNew: any names give an error or a store whose migration names them,
// never a panic.
func FuzzNew(f *testing.F) {
	for _, seed := range [][3]string{{"", "", ""}, {"outbox", "dead", "ch"}, {"s.t", "s.d", ""}, {"a-b", "", ""}, {"x", "x", ""},
		{"t", "d", "a.b"}, {"t\x00", "d", "c"}, {"\"", "'", "$$"}, {"a.b.c", "", ""}} {
		f.Add(seed[0], seed[1], seed[2])
	}
	pool := &pgxpool.Pool{}
	f.Fuzz(func(t *testing.T, table, dead, channel string) {
		cfg := pgoutbox.Config{Table: table, DeadLetterTable: dead, Channel: channel}
		_, err := pgoutbox.New(pool, cfg)
		m, merr := pgoutbox.Migrations(cfg)
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "pgoutbox: "), err.Error())
			assert.Equal(t, err, merr, "Migrations refuses what New refuses")
			return
		}
		require.NoError(t, merr)
		if channel != "" {
			assert.Contains(t, m[0].SQL, "('"+channel+"')")
		}
	})
}

func TestSchemaQualifiedNamesAndRepeatedMigrate(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ctx := context.Background()
	_, err = pool.Exec(ctx, "CREATE SCHEMA "+schema+"_app")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP SCHEMA "+schema+"_app CASCADE") })
	s, err := pgoutbox.New(pool, pgoutbox.Config{Table: schema + "_app.Orders_Outbox", DeadLetterTable: schema + "_app.orders_dead", Channel: schema})
	require.NoError(t, err)
	pgtest.MigrateConcurrently(t, 3, s.Migrate)
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "k"}))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`_app."Orders_Outbox"`).Scan(&n))
	assert.Equal(t, 1, n)
	assert.Contains(t, migrationSQL(t, pgoutbox.Config{Table: schema + "_app.Orders_Outbox", DeadLetterTable: schema + "_app.orders_dead", Channel: schema}),
		`CREATE TABLE IF NOT EXISTS "`+schema+`_app"."Orders_Outbox"`)
}

// migrationSQL returns the SQL of every migration of cfg.
func migrationSQL(t *testing.T, cfg pgoutbox.Config) string {
	t.Helper()
	m, err := pgoutbox.Migrations(cfg)
	require.NoError(t, err)
	var b strings.Builder
	for _, s := range m {
		b.WriteString(s.SQL)
	}
	return b.String()
}

func claimAll(t *testing.T, s outbox.Store) outbox.Batch {
	t.Helper()
	b, err := s.Claim(context.Background(), outbox.ClaimRequest{Limit: 100, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Release(context.Background()) })
	return b
}

// claimable reports how many messages a claim gets now, releasing it.
func claimable(t *testing.T, s outbox.Store) int {
	t.Helper()
	b, err := s.Claim(context.Background(), outbox.ClaimRequest{Limit: 100, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	defer b.Release(context.Background())
	return len(b.Messages())
}

func keysOf(b outbox.Batch) []string {
	var out []string
	for _, m := range b.Messages() {
		out = append(out, string(m.Payload))
	}
	return out
}

func TestRolledBackEnqueueIsNeverPublished(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Enqueue(ctx, tx, outbox.Message{Topic: "t", Key: "a", Payload: []byte("gone")}))
	require.NoError(t, tx.Rollback(ctx))
	assert.Empty(t, claimAll(t, s).Messages())
}

// TestLateCommitIsNotSkipped holds a transaction open while later ones
// commit (watermill#311): the relay publishes what has committed and, once
// the held transaction commits, its message too, though its sequence value
// is lower than those already published.
func TestLateCommitIsNotSkipped(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	pub := outbox.NewMemoryPublisher()
	cfg := outbox.DefaultConfig()
	cfg.Concurrency = 1 // publish across keys in claim order, for the assertion below
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)

	held, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer held.Rollback(ctx)
	require.NoError(t, s.Enqueue(ctx, held, outbox.Message{Topic: "t", Key: "a", Payload: []byte("a1 (seq 1, commits last)")}))
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "b", Payload: []byte("b1")}))
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "c", Payload: []byte("c1")}))

	res, err := r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, res.Published)
	res, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Zero(t, res.Claimed, "a1 is not committed yet")

	require.NoError(t, held.Commit(ctx))
	res, err = r.ProcessBatch(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Published)
	var got []string
	for _, m := range pub.Messages() {
		got = append(got, string(m.Payload))
	}
	assert.Equal(t, []string{"b1", "c1", "a1 (seq 1, commits last)"}, got)
}

// TestSameKeyTransactionsCommitInOrder: a second transaction enqueueing for
// a key waits for the first, so the key's messages are published in commit
// order even though both are in flight at once.
func TestSameKeyTransactionsCommitInOrder(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	first, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer first.Rollback(ctx)
	require.NoError(t, s.Enqueue(ctx, first, outbox.Message{Topic: "t", Key: "k", Payload: []byte("first")}))

	secondDone := make(chan error, 1)
	go func() {
		secondDone <- enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "k", Payload: []byte("second")},
			outbox.Message{Topic: "t", Key: "other", Payload: []byte("other")})
	}()
	select {
	case err := <-secondDone:
		t.Fatalf("the second transaction enqueued for the held key without waiting: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "unrelated", Payload: []byte("unrelated")}),
		"other keys do not wait")
	require.NoError(t, first.Commit(ctx))
	require.NoError(t, <-secondDone)
	b := claimAll(t, s)
	assert.Equal(t, []string{"first", "unrelated", "second", "other"}, keysOf(b))
}

// TestDeadRelayConnectionReleasesClaim: when the relay's connection dies
// (its process was killed), the server rolls its claim back and another
// claim takes the messages; the dead claim cannot record anything.
func TestDeadRelayConnectionReleasesClaim(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	s, pool := storeOn(t, schema, dsn)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	relay, _ := storeOn(t, schema, dsn+"&application_name=relay_"+schema)
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "k", Payload: []byte("m")}))
	first := claimAll(t, relay)
	require.Len(t, first.Messages(), 1)
	assert.Zero(t, claimable(t, s), "held by the first claim")

	killApp(t, pool, "relay_"+schema)
	require.Eventually(t, func() bool { return claimable(t, s) == 1 }, 10*time.Second, 20*time.Millisecond)
	err := first.Finish(ctx, outbox.Outcome{Now: time.Now(), Published: []int{0}})
	assert.ErrorIs(t, err, outbox.ErrClaimLost)
}

// TestLeaseEndsAHungClaim: a claim held past its lease is ended by the
// server (idle_in_transaction_session_timeout).
func TestLeaseEndsAHungClaim(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "k", Payload: []byte("m")}))
	hung, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: time.Now(), Lease: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, hung.Messages(), 1)
	require.Eventually(t, func() bool { return claimable(t, s) == 1 }, 10*time.Second, 50*time.Millisecond)
	assert.ErrorIs(t, hung.Finish(ctx, outbox.Outcome{Now: time.Now(), Published: []int{0}}), outbox.ErrClaimLost)
}

// TestListenWakesTheRelayWithoutPolling: with an hour-long poll interval,
// a committed message is still published at once.
func TestListenWakesTheRelayWithoutPolling(t *testing.T) {
	s, pool := newStore(t)
	pub := outbox.NewMemoryPublisher()
	cfg := outbox.DefaultConfig()
	cfg.PollInterval = time.Hour
	r, err := outbox.NewRelay(s, pub, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	for i := range 3 {
		time.Sleep(50 * time.Millisecond) // let the relay go back to waiting
		start := time.Now()
		require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: fmt.Sprint(i)}))
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		require.NoError(t, pub.WaitFor(wctx, i+1))
		wcancel()
		t.Logf("commit to publish: %s", time.Since(start))
	}
	require.NoError(t, r.Close(ctx))
	require.NoError(t, <-done)
}

func TestListenFailsWhenItsConnectionDies(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	admin, pool := storeOn(t, schema, dsn)
	require.NoError(t, admin.Migrate(context.Background()))
	s, _ := storeOn(t, schema, dsn+"&application_name=listen_"+schema)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	woke := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx, func() { woke <- struct{}{} }) }()
	<-woke // listening
	killApp(t, pool, "listen_"+schema)
	select {
	case err := <-done:
		assert.Error(t, err)
		assert.False(t, errors.Is(err, context.Canceled))
	case <-ctx.Done():
		t.Fatal("Listen did not return after its connection died")
	}
}

// TestFinishAndClaimOnADeadConnection: when the claim's connection died,
// FinishAndClaim records nothing, claims nothing, and says the claim was
// lost.
func TestFinishAndClaimOnADeadConnection(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	s, pool := storeOn(t, schema, dsn)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	relay, _ := storeOn(t, schema, dsn+"&application_name=chain_"+schema)
	require.NoError(t, enqueueTx(s, pool)(ctx, outbox.Message{Topic: "t", Key: "k"}, outbox.Message{Topic: "t", Key: "k"}))
	b, err := relay.Claim(ctx, outbox.ClaimRequest{Limit: 1, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, b.Messages(), 1)
	killApp(t, pool, "chain_"+schema)
	next, err := b.(outbox.Chainer).FinishAndClaim(ctx, outbox.Outcome{Now: time.Now(), Published: []int{0}},
		outbox.ClaimRequest{Limit: 1, Now: time.Now(), Lease: time.Minute})
	assert.ErrorIs(t, err, outbox.ErrClaimLost)
	assert.Nil(t, next)
	require.Eventually(t, func() bool { return claimable(t, s) == 2 }, 10*time.Second, 20*time.Millisecond, "nothing was recorded")
}

// TestSeveralRelaysPublishEachMessageOnce runs three relays on one outbox
// with writers enqueueing meanwhile, and checks, without any broker
// deduplication, that every message was published exactly once, that no
// key ever had two publishes in flight, and that each key's messages came
// in enqueue order.
func TestSeveralRelaysPublishEachMessageOnce(t *testing.T) {
	s, pool := newStore(t)
	const keys, perKey = 20, 30
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{}
		seen     = map[string]int{}
		order    = map[string][]int{}
		total    int
		all      = make(chan struct{})
		failures []string
	)
	pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		mu.Lock()
		if inFlight[m.Key] {
			failures = append(failures, "two publishes of key "+m.Key+" at once")
		}
		inFlight[m.Key] = true
		mu.Unlock()
		time.Sleep(100 * time.Microsecond) // widen the window for overlaps
		mu.Lock()
		defer mu.Unlock()
		inFlight[m.Key] = false
		seen[m.ID.String()]++
		var i int
		fmt.Sscan(string(m.Payload), &i)
		order[m.Key] = append(order[m.Key], i)
		if total++; total == keys*perKey {
			close(all)
		}
		return nil
	})
	cfg := outbox.DefaultConfig()
	cfg.BatchSize = 16
	cfg.Concurrency = 4
	cfg.PollInterval = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var relays []*outbox.Relay
	for range 3 {
		r, err := outbox.NewRelay(s, pub, cfg)
		require.NoError(t, err)
		relays = append(relays, r)
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, r.Run(ctx)) }()
	}
	for i := range perKey {
		var msgs []outbox.Message
		for k := range keys {
			msgs = append(msgs, outbox.Message{Topic: "t", Key: fmt.Sprint("k", k), Payload: []byte(fmt.Sprint(i))})
		}
		require.NoError(t, enqueueTx(s, pool)(ctx, msgs...))
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		t.Fatal("not everything was published within a minute")
	}
	for _, r := range relays {
		require.NoError(t, r.Close(context.Background()))
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, failures)
	assert.Len(t, seen, keys*perKey)
	for id, n := range seen {
		assert.Equal(t, 1, n, "message %s published %d times", id, n)
	}
	want := make([]int, perKey)
	for i := range want {
		want[i] = i
	}
	for k, got := range order {
		assert.Equal(t, want, got, "key %s", k)
	}
}
