package consumefault_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/tests/internal/pgschema"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// The workload: every key gets perKey messages with indexes 0..perKey-1.
const (
	keys   = 500
	perKey = 100
	total  = keys * perKey
	kills  = 10
)

// poison says whether message idx of key k is made to fail for good: its
// handler returns a permanent error, so it must end up dead-lettered, once.
func poison(k, idx int) bool { return (k*perKey+idx)%1000 == 7 }

// flaky says whether message idx of key k fails its first three tries in
// each process: more than the in-place attempts, so it goes to delayed
// redelivery while later messages of its key wait.
func flaky(k, idx int) bool { return (k*perKey+idx)%250 == 11 }

// sources builds a Source for the broker named by FAULT_BROKER, from the
// environment the parent gave the child. Each broker's file adds itself.
var sources = map[string]func(ctx context.Context) (consume.Source, error){}

// brokerUnderTest is what the fault test needs of one broker.
type brokerUnderTest struct {
	name string
	// env is handed to every consumer process: where the broker and the
	// topic or queue are.
	env []string
	// publish sends the messages, in order; it is called from several
	// goroutines at once, each with messages of its own keys.
	publish func(ctx context.Context, msgs []outbox.Message) error
	// settled asserts that the broker holds nothing unacknowledged and
	// nothing undelivered once the last consumer closed.
	settled func(t *testing.T, ctx context.Context)
}

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"consumer": runChild})
}

// runChild is the consuming process: it runs until it is killed.
func runChild() {
	err := consumeUntil(context.Background())
	fmt.Fprintln(os.Stderr, "consumer child:", err)
	os.Exit(1)
}

// consumeUntil runs a Consumer from the environment until ctx ends, then
// closes it gracefully.
func consumeUntil(ctx context.Context) error {
	pool, err := pgxpool.New(ctx, os.Getenv("FAULT_DSN"))
	if err != nil {
		return err
	}
	defer pool.Close()
	store, err := pgidempotency.New(pool, pgidempotency.Config{Table: "inbox"})
	if err != nil {
		return err
	}
	inbox, err := pgidempotency.NewInbox(store, pgidempotency.InboxConfig{Consumer: "fault"})
	if err != nil {
		return err
	}
	newSource := sources[os.Getenv("FAULT_BROKER")]
	if newSource == nil {
		return fmt.Errorf("no source for broker %q", os.Getenv("FAULT_BROKER"))
	}
	src, err := newSource(ctx)
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		tries = map[string]int{}
	)
	handle := func(ctx context.Context, tx pgx.Tx, m *consume.Message) error {
		k, idx, err := parsePayload(m.Payload)
		if err != nil {
			return consume.Permanent(err)
		}
		if poison(k, idx) {
			return consume.Permanent(fmt.Errorf("poison message %d of key %d", idx, k))
		}
		if flaky(k, idx) {
			mu.Lock()
			tries[m.ID]++
			n := tries[m.ID]
			mu.Unlock()
			if n <= 3 {
				return fmt.Errorf("flaky message %d of key %d, try %d", idx, k, n)
			}
		}
		_, err = tx.Exec(ctx, "INSERT INTO effects (msg_id, key, idx) VALUES ($1, $2, $3)", m.ID, k, idx)
		return err
	}
	c, err := consume.New(src, consume.Chain(consume.InboxHandler(inbox, handle), consume.Recover()), consume.Config{
		Concurrency:     16,
		MaxPending:      256,
		InPlaceAttempts: 2,
		InPlaceBackoff:  retry.Constant{Delay: 5 * time.Millisecond},
		Redelivery:      retry.Constant{Delay: 100 * time.Millisecond},
		MaxAttempts:     50,
		DeadLetters:     deadLetters{pool},
	})
	if err != nil {
		return err
	}
	g := bulwark.Start(ctx, c)
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return g.Stop(stopCtx)
}

// deadLetters keeps dead letters in the dead table: a letter stored twice
// (its process died before the acknowledgement) is kept once.
type deadLetters struct{ pool *pgxpool.Pool }

func (d deadLetters) DeadLetter(ctx context.Context, l retry.DeadLetter[consume.Message]) error {
	_, err := d.pool.Exec(ctx, "INSERT INTO dead (msg_id, payload, attempts) VALUES ($1, $2, $3) ON CONFLICT (msg_id) DO NOTHING",
		l.Item.ID, string(l.Item.Payload), len(l.Attempts))
	return err
}

func payload(k, idx int) []byte { return fmt.Appendf(nil, "%d:%d", k, idx) }

func parsePayload(p []byte) (k, idx int, err error) {
	ks, is, ok := strings.Cut(string(p), ":")
	if !ok {
		return 0, 0, fmt.Errorf("bad payload %q", p)
	}
	if k, err = strconv.Atoi(ks); err == nil {
		idx, err = strconv.Atoi(is)
	}
	return k, idx, err
}

// faultSchema makes a schema of its own with the effects and dead tables,
// dropped at the end, and returns a DSN using it.
func faultSchema(t *testing.T) string {
	schema, dsn := pgschema.New(t, "consumefault_")
	conn, err := pgx.Connect(context.Background(), dsn)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `
		CREATE TABLE `+schema+`.effects (id bigserial PRIMARY KEY, msg_id text NOT NULL, key int NOT NULL, idx int NOT NULL);
		CREATE TABLE `+schema+`.dead (msg_id text PRIMARY KEY, payload text NOT NULL, attempts int NOT NULL)`)
	require.NoError(t, err)
	return dsn
}

// runFault publishes the workload, consumes it with processes killed
// `kills` times at random moments, finishes it with a consumer closed
// gracefully, and checks every promise.
func runFault(t *testing.T, b brokerUnderTest) {
	testenv.SkipUnderRace(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dsn := faultSchema(t)
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()
	store, err := pgidempotency.New(pool, pgidempotency.Config{Table: "inbox"})
	require.NoError(t, err)
	require.NoError(t, store.Migrate(ctx))
	env := append([]string{"FAULT_BROKER=" + b.name, "FAULT_DSN=" + dsn}, b.env...)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v) // for the last consumer, which runs in this process
	}

	// Publish while the consumers run, key by key interleaved.
	msgs := make([]outbox.Message, 0, total)
	for idx := range perKey {
		for k := range keys {
			m := outbox.NewMessage("orders", "key-"+strconv.Itoa(k), payload(k, idx))
			msgs = append(msgs, m)
		}
	}
	// Publishers each take a share of the keys, every key's messages in
	// order.
	const publishers = 8
	shares := make([][]outbox.Message, publishers)
	for i, m := range msgs {
		k := i % keys
		shares[k%publishers] = append(shares[k%publishers], m)
	}
	published := make(chan error, 1)
	go func() {
		var g errgroup.Group
		for _, share := range shares {
			g.Go(func() error { return b.publish(ctx, share) })
		}
		published <- g.Wait()
	}()

	effects := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM effects").Scan(&n))
		return n
	}
	var poisoned int
	for k := range keys {
		for idx := range perKey {
			if poison(k, idx) {
				poisoned++
			}
		}
	}
	want := total - poisoned

	// Kill a consuming process each time the effects pass the next of
	// `kills` random counts between 5% and 85% of the total.
	points := make([]int, kills)
	for i := range points {
		points[i] = total/20 + rng.IntN(total*80/100)
	}
	slices.Sort(points)
	var cmd *exec.Cmd
	start := func() {
		cmd = testenv.Command(t, "consumer", env...)
		require.NoError(t, cmd.Start())
	}
	kill := func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	start()
	killed := 0
	for killed < kills {
		select {
		case <-ctx.Done():
			kill()
			t.Fatalf("timed out after %d kills with %d of %d effects", killed, effects(), want)
		case <-time.After(20 * time.Millisecond):
		}
		if effects() >= points[killed] {
			kill()
			killed++
			start()
		}
	}
	// The last process is stopped gently; one in this process finishes
	// the work and closes gracefully, so that the broker can be checked.
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	require.NoError(t, <-published, "publishing")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- consumeUntil(runCtx) }()
	deadline := time.Now().Add(3 * time.Minute)
	for effects() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var dead int
	for time.Now().Before(deadline) {
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM dead").Scan(&dead))
		if dead >= poisoned {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything more (a duplicate effect) would show now
	stop()
	require.NoError(t, ignoreCanceled(<-done), "the last consumer")

	// Every effect exactly once.
	var n, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT msg_id) FROM effects").Scan(&n, &distinct))
	assert.Equal(t, want, n, "effects")
	assert.Equal(t, n, distinct, "effects of one message recorded more than once")
	// Each key's effects in order.
	rows, err := pool.Query(ctx, "SELECT key, idx FROM effects ORDER BY id")
	require.NoError(t, err)
	last := map[int]int{}
	outOfOrder := 0
	for rows.Next() {
		var k, idx int
		require.NoError(t, rows.Scan(&k, &idx))
		if prev, ok := last[k]; ok && idx <= prev {
			outOfOrder++
		}
		last[k] = idx
	}
	require.NoError(t, rows.Err())
	assert.Zero(t, outOfOrder, "effects out of their key's order")
	// Dead letters: exactly the poison messages.
	rows, err = pool.Query(ctx, "SELECT payload FROM dead")
	require.NoError(t, err)
	deadSet := map[string]bool{}
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		deadSet[p] = true
	}
	require.NoError(t, rows.Err())
	for k := range keys {
		for idx := range perKey {
			p := string(payload(k, idx))
			assert.Equal(t, poison(k, idx), deadSet[p], "dead letter of %s", p)
		}
	}
	b.settled(t, ctx)
	t.Logf("%s: %d messages over %d keys, %d consumer processes killed with SIGKILL; %d effects, %d dead letters, %d out of order",
		b.name, total, keys, killed, n, len(deadSet), outOfOrder)
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
