package natsfault_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/tests/internal/pgschema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"relay": runRelay})
}

// The fault test's child: a relay from PostgreSQL (FAULT_DSN, FAULT_SCHEMA
// as the channel) to JetStream (FAULT_NATS), run until it is killed.
func runRelay() {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "relay child:", err)
		os.Exit(1)
	}
	pool, err := pgxpool.New(ctx, os.Getenv("FAULT_DSN"))
	if err != nil {
		fail(err)
	}
	store, err := pgoutbox.New(pool, pgoutbox.Config{Channel: os.Getenv("FAULT_SCHEMA")})
	if err != nil {
		fail(err)
	}
	nc, err := nats.Connect(os.Getenv("FAULT_NATS"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		fail(err)
	}
	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	if err != nil {
		fail(err)
	}
	rc := outbox.Config{
		Concurrency:    16,
		PollInterval:   200 * time.Millisecond,
		PublishTimeout: 5 * time.Second,
		Lease:          30 * time.Second,
		MaxAttempts:    outbox.Unlimited, // the broker comes back: never give up
		Backoff:        retry.Exponential{Initial: 50 * time.Millisecond, Jitter: retry.EqualJitter},
		MaxDelay:       time.Second,
	}
	rc.BatchSize, _ = strconv.Atoi(os.Getenv("FAULT_BATCH"))
	rc.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	relay, err := outbox.NewRelay(store, pub, rc)
	if err != nil {
		fail(err)
	}
	fail(relay.Run(ctx))
}

// TestFaultRelayKilled writes 100,000 messages over 1,000 keys from
// concurrent writers while relay processes are killed with SIGKILL at random
// moments and restarted (two of them at once for part of the time), their
// database connections are cut, and the broker restarts once; then it
// checks that the consumer got every message once, each key in order.
func TestFaultRelayKilled(t *testing.T) {
	testenv.SkipUnderRace(t)
	t.Run("broker=embedded", func(t *testing.T) {
		b := natstest.NewBroker(t)
		runFault(t, b.URL, b.Restart)
	})
	t.Run("broker=external", func(t *testing.T) {
		runFault(t, natstest.External(t), nil)
	})
}

func runFault(t *testing.T, natsURL string, restartBroker func(time.Duration)) {
	const (
		total   = 100_000
		keys    = 1_000
		writers = 4
		perTx   = 20
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	schema, dsn := pgschema.New(t, "fault_")
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	store, err := pgoutbox.New(pool, pgoutbox.Config{Channel: schema})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))

	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	stream, prefix := natstest.Stream(t, js, 10*time.Minute)

	// The consumer: every (key, index) once, each key's indexes in order.
	var (
		mu       sync.Mutex
		next     = make(map[string]int, keys)
		received int
		dups     int
		outOfOrd int
		allIn    = make(chan struct{})
	)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		m, err := natsoutbox.Decode(msg.Subject(), msg.Headers(), msg.Data())
		if err != nil {
			t.Errorf("decoding: %v", err)
			return
		}
		idx, _ := strconv.Atoi(string(m.Payload))
		mu.Lock()
		defer mu.Unlock()
		switch want := next[m.Key]; {
		case idx == want:
			next[m.Key]++
			if received++; received == total {
				close(allIn)
			}
		case idx < want:
			dups++
		default:
			outOfOrd++
		}
	})
	require.NoError(t, err)
	defer cc.Stop()

	// Relays: slot 0 runs throughout, slot 1 for the middle of the test.
	relayDSN := dsn + "&application_name=relay_" + schema
	var slots [2]*exec.Cmd
	start := func(i int) {
		cmd := testenv.Command(t, "relay", "FAULT_DSN="+relayDSN, "FAULT_SCHEMA="+schema,
			"FAULT_NATS="+natsURL, "FAULT_BATCH="+strconv.Itoa(50+rng.IntN(200)))
		require.NoError(t, cmd.Start())
		slots[i] = cmd
	}
	kill := func(i int) {
		if slots[i] == nil {
			return
		}
		_ = slots[i].Process.Signal(syscall.SIGKILL)
		_ = slots[i].Wait()
		slots[i] = nil
	}
	defer kill(0)
	defer kill(1)
	start(0)

	// Writers: writer w owns the keys k with k % writers == w and writes
	// each key's messages with increasing indexes, perTx per transaction.
	var written atomic.Int64
	var wg sync.WaitGroup
	werr := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := keys / writers
			count := make([]int, own)
			for n := 0; n < total/writers; n += perTx {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					msgs := make([]outbox.Message, perTx)
					for i := range msgs {
						k := (n + i) % own
						msgs[i] = outbox.Message{Topic: prefix + ".orders", Key: fmt.Sprint("key-", k*writers+w),
							Payload: strconv.AppendInt(nil, int64(count[k]), 10)}
						count[k]++
					}
					return store.Enqueue(ctx, tx, msgs...)
				})
				if err != nil {
					werr <- err
					return
				}
				written.Add(perTx)
			}
		}()
	}

	// Faults at random moments paced by progress, not by the clock, so
	// that a fast machine gets as many as a slow one: one fault each time
	// the messages received pass the next of faultPoints random counts
	// between 2% and 90% of the total. Two faults, drawn at random, cut
	// the relays' database connections; one in the middle third restarts
	// the broker (when the test runs its own); the rest SIGKILL a relay.
	const faultPoints = 16
	points := make([]int, faultPoints)
	for i := range points {
		points[i] = total/50 + rng.IntN(total*88/100)
	}
	slices.Sort(points)
	faults := make([]string, faultPoints)
	for i := range faults {
		faults[i] = "kill"
	}
	if restartBroker != nil {
		faults[faultPoints/3+rng.IntN(faultPoints/3)] = "restart"
	}
	for cut := 0; cut < 2; {
		if i := rng.IntN(faultPoints); faults[i] == "kill" {
			faults[i] = "cut"
			cut++
		}
	}
	receivedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return received
	}
	var point, kills, cuts, restarts int // point: the next fault point
	for done := false; !done; {
		select {
		case <-allIn:
			done = true
			continue
		case err := <-werr:
			t.Fatalf("writer: %v", err)
		case <-ctx.Done():
			mu.Lock()
			t.Fatalf("timed out: %d of %d received after %d kills (%d duplicates dropped, %d out of order)", received, total, kills, dups, outOfOrd)
		case <-time.After(5 * time.Millisecond):
		}
		if point == faultPoints || receivedNow() < points[point] {
			continue
		}
		fault := faults[point]
		point++
		switch fault {
		case "cut":
			_, err := pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", "relay_"+schema)
			require.NoError(t, err)
			cuts++
		case "restart":
			restartBroker(500 * time.Millisecond)
			restarts++
		default:
			i := 0
			if slots[1] != nil && rng.IntN(2) == 0 {
				i = 1
			}
			kill(i)
			kills++
			start(i)
			switch kills {
			case 3:
				start(1) // two relays at once from here
			case 9:
				kill(1)
			}
		}
	}
	wg.Wait()
	close(werr)
	for err := range werr {
		require.NoError(t, err)
	}
	// Anything more (a late duplicate) would arrive now.
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d messages over %d keys written by %d writers; %d received in order, %d duplicates dropped by the consumer, %d out of order; %d relay SIGKILLs, %d database connection cuts, %d broker restarts",
		written.Load(), keys, writers, received, dups, outOfOrd, kills, cuts, restarts)
	info, err := stream.Info(context.Background())
	require.NoError(t, err)
	t.Logf("stream stored %d messages", info.State.Msgs)
	assert.Equal(t, total, received)
	assert.Zero(t, dups, "JetStream's duplicate window should have dropped every re-publish")
	assert.Zero(t, outOfOrd)
	assert.Equal(t, uint64(total), info.State.Msgs)
	assert.GreaterOrEqual(t, kills, 10)
	if restartBroker != nil {
		assert.Equal(t, 1, restarts, "broker restarts")
	}
	for k := range keys {
		assert.Equal(t, total/keys, next[fmt.Sprint("key-", k)], "key-%d", k)
	}
	st, err := store.Stats(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.DeadLetters)
}
