package rabbitoutbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultConnectionDiesUnderRelay relays 50,000 messages over 500 keys
// while the publisher's channel and connection are closed under it, its
// network connection is cut (a broker restart, as the client sees it), and
// the broker refuses connections for a while; then it checks that every
// message arrived at least once, each key's first copies in order.
func TestFaultConnectionDiesUnderRelay(t *testing.T) {
	testenv.SkipUnderRace(t)
	const (
		total = 50_000
		keys  = 500
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "#")
	deliveries := rabbittest.Consume(t, url, q)

	// The consumer: count each ID; a key's first copies must come in order.
	var (
		mu       sync.Mutex
		seen     = make(map[uuid.UUID]int, total)
		next     = make(map[string]int, keys)
		outOfOrd int
		allIn    = make(chan struct{})
	)
	go func() {
		for d := range deliveries {
			m, err := rabbitoutbox.Decode(d)
			if err != nil {
				t.Errorf("decoding: %v", err)
				continue
			}
			idx, _ := strconv.Atoi(string(m.Payload))
			mu.Lock()
			if seen[m.ID]++; seen[m.ID] == 1 {
				if idx != next[m.Key] {
					outOfOrd++
				}
				next[m.Key] = idx + 1
				if len(seen) == total {
					close(allIn)
				}
			}
			mu.Unlock()
		}
	}()

	store := outbox.NewMemoryStore()
	pub := newPublisher(t, rabbitoutbox.Config{URL: proxy.URL, Exchange: x})
	var failedMu sync.Mutex
	failed := 0
	rc := outbox.Config{
		BatchSize:      200,
		Concurrency:    32,
		PollInterval:   50 * time.Millisecond,
		PublishTimeout: 5 * time.Second,
		Lease:          30 * time.Second,
		MaxAttempts:    outbox.Unlimited, // the broker comes back: never give up
		Backoff:        retry.Exponential{Initial: 20 * time.Millisecond},
		MaxDelay:       200 * time.Millisecond,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(outbox.PublishFailed); ok {
				failedMu.Lock()
				failed++
				failedMu.Unlock()
			}
		}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	relay, err := outbox.NewRelay(store, pub, rc)
	require.NoError(t, err)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(ctx) }()

	// The writer: each key's messages numbered from 0, 50 per transaction.
	go func() {
		count := make([]int, keys)
		for n := 0; n < total; n += 50 {
			msgs := make([]outbox.Message, 50)
			for i := range msgs {
				k := (n + i) % keys
				msgs[i] = outbox.Message{Topic: "orders." + strconv.Itoa(k%7), Key: fmt.Sprint("key-", k), Payload: strconv.AppendInt(nil, int64(count[k]), 10)}
				count[k]++
			}
			if err := store.Enqueue(ctx, msgs...); err != nil {
				t.Errorf("enqueue: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	var chanCloses, connCloses, cuts, outages int
	for done := false; !done; {
		select {
		case <-allIn:
			done = true
			continue
		case err := <-relayDone:
			t.Fatalf("relay stopped: %v", err)
		case <-ctx.Done():
			mu.Lock()
			t.Fatalf("timed out: %d of %d received (%d out of order)", len(seen), total, outOfOrd)
		case <-time.After(time.Duration(50+rng.IntN(250)) * time.Millisecond):
		}
		switch r := rng.IntN(10); {
		case r < 4:
			if ch := rabbitoutbox.PublisherChannel(pub); ch != nil {
				_ = ch.Close()
				chanCloses++
			}
		case r < 7:
			if c := rabbitoutbox.PublisherConnection(pub); c != nil {
				_ = c.Close()
				connCloses++
			}
		case r < 9:
			proxy.Cut()
			cuts++
		default:
			proxy.Refuse(true)
			proxy.Cut()
			time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
			proxy.Refuse(false)
			outages++
		}
	}
	require.NoError(t, relay.Close(context.Background()))
	time.Sleep(300 * time.Millisecond) // a late copy would arrive now
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("%d messages over %d keys: %d received, %d extra copies, %d out of order; %d failed publishes retried; %d channel closes, %d connection closes, %d network cuts, %d outages",
		total, keys, len(seen), dups, outOfOrd, failed, chanCloses, connCloses, cuts, outages)
	assert.Len(t, seen, total)
	assert.Zero(t, outOfOrd)
	for k := range keys {
		assert.Equal(t, total/keys, next[fmt.Sprint("key-", k)], "key-%d", k)
	}
	assert.GreaterOrEqual(t, chanCloses+connCloses+cuts+outages, 5)
	st, err := store.Stats(context.Background())
	require.NoError(t, err)
	assert.Zero(t, st.Pending)
	assert.Zero(t, st.DeadLetters)
}

// TestFaultUnroutableIsDeadLettered: a message no queue is bound for fails
// each publish with ErrUnroutable, the relay retries it, and after
// MaxAttempts keeps it as a dead letter, while other keys' messages go
// through; bound and replayed, it is delivered.
func TestFaultUnroutableIsDeadLettered(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "orders")
	deliveries := rabbittest.Consume(t, url, q)
	store := outbox.NewMemoryStore()
	pub := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x})

	var mu sync.Mutex
	var retryErrs []error
	dead := make(chan outbox.Message, 1)
	rc := outbox.Config{
		PollInterval: 20 * time.Millisecond,
		MaxAttempts:  3,
		Backoff:      retry.Exponential{Initial: 10 * time.Millisecond},
		MaxDelay:     20 * time.Millisecond,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			switch e := e.(type) {
			case outbox.PublishFailed:
				mu.Lock()
				retryErrs = append(retryErrs, e.Err)
				mu.Unlock()
			case outbox.DeadLettered:
				dead <- e.Message
			}
		}),
	}
	relay, err := outbox.NewRelay(store, pub, rc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { _ = relay.Run(ctx) }()
	defer relay.Close(context.Background())

	lost := outbox.NewMessage("invoices", "inv-1", []byte("unroutable"))
	kept := outbox.NewMessage("orders", "ord-1", []byte("routed"))
	require.NoError(t, store.Enqueue(ctx, lost, kept))

	select {
	case m := <-dead:
		assert.Equal(t, lost.ID, m.ID)
	case <-ctx.Done():
		t.Fatal("the unroutable message was never dead-lettered")
	}
	got := receive(t, deliveries, 1)[0]
	assert.Equal(t, kept.ID, got.ID)
	mu.Lock()
	require.Len(t, retryErrs, 2, "two retries before the third, last attempt")
	for _, err := range retryErrs {
		assert.ErrorIs(t, err, rabbitmq.ErrUnroutable)
	}
	mu.Unlock()
	letters, err := store.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, letters, 1)
	assert.Equal(t, 3, letters[0].Attempts)
	assert.True(t, strings.Contains(letters[0].LastError, "NO_ROUTE"), letters[0].LastError)

	// Bind a queue for it and replay: now it is delivered.
	q2 := rabbittest.Queue(t, url, x, nil, "invoices")
	d2 := rabbittest.Consume(t, url, q2)
	n, err := store.Replay(ctx, lost.ID)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, lost.ID, receive(t, d2, 1)[0].ID)
}
