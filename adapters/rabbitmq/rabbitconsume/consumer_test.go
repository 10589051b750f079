package rabbitconsume_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runConsumer runs a Consumer on s until the test ends or the returned stop.
func runConsumer(t *testing.T, s consume.Source, h consume.HandlerFunc, cfg consume.Config) (stop func()) {
	t.Helper()
	c, err := consume.New(s, h, cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			assert.NoError(t, c.Close(ctx))
			assert.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

// handled is one handler call.
type handled struct {
	id      string
	key     string
	attempt int
	at      time.Time
	meta    amqp.Delivery
}

type calls struct {
	mu  sync.Mutex
	all []handled
}

func (c *calls) add(m *consume.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, handled{id: m.ID, key: m.Key, attempt: m.Attempt, at: time.Now(), meta: m.Metadata.(amqp.Delivery)})
}

func (c *calls) list() []handled {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]handled(nil), c.all...)
}

func (c *calls) find(id string, attempt int) (handled, bool) {
	for _, h := range c.list() {
		if h.id == id && h.attempt == attempt {
			return h, true
		}
	}
	return handled{}, false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOrderWinsForKeysRetryQueueForTheRest shows which of order and not
// blocking wins on RabbitMQ. A keyed message that fails is held by the
// Consumer, unacknowledged, and run again from the same delivery (no retry
// queue, no x-death); the next message of its key waits for it. An unkeyed
// message that fails goes through a retry queue (it comes back
// dead-lettered from it, as a new delivery) and the message after it is
// not held up.
func TestOrderWinsForKeysRetryQueueForTheRest(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	publishMessages(t, context.Background(), url, q,
		consume.Message{ID: "k1", Key: "k"}, consume.Message{ID: "k2", Key: "k"},
		consume.Message{ID: "u1"}, consume.Message{ID: "u2"})
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q})
	var c calls
	runConsumer(t, s, func(ctx context.Context, m *consume.Message) error {
		c.add(m)
		if (m.ID == "k1" || m.ID == "u1") && m.Attempt == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	}, consume.Config{InPlaceAttempts: consume.NoInPlaceRetries, Redelivery: retry.Constant{Delay: 300 * time.Millisecond}})
	eventually(t, "k2 and u1's second attempt", func() bool {
		_, k2 := c.find("k2", 1)
		_, u1 := c.find("u1", 2)
		return k2 && u1
	})

	k1a, _ := c.find("k1", 1)
	k1b, _ := c.find("k1", 2)
	k2, _ := c.find("k2", 1)
	assert.True(t, k2.at.After(k1b.at), "k2 ran before k1's redelivery: key order lost")
	assert.GreaterOrEqual(t, k1b.at.Sub(k1a.at), 300*time.Millisecond)
	assert.Equal(t, k1a.meta.DeliveryTag, k1b.meta.DeliveryTag, "k1 was delivered again instead of held")
	assert.Nil(t, k1b.meta.Headers["x-death"])

	u1a, _ := c.find("u1", 1)
	u1b, _ := c.find("u1", 2)
	u2, _ := c.find("u2", 1)
	assert.True(t, u2.at.Before(u1b.at), "u2 waited for u1's redelivery")
	assert.GreaterOrEqual(t, u1b.at.Sub(u1a.at), 500*time.Millisecond, "the 300ms delay rounds up to the 500ms tier")
	require.NotNil(t, u1b.meta.Headers["x-death"], "u1 did not come back through a retry queue")
	death := u1b.meta.Headers["x-death"].([]any)[0].(amqp.Table)
	assert.Equal(t, rabbitconsume.RetryQueueName(q, 500*time.Millisecond), death["queue"])
	assert.Equal(t, "expired", death["reason"])
}

// TestConsumerAcrossConnectionLosses runs a Consumer over 1,000 messages of
// 20 keys while the Source's connection is closed underneath and the
// network to the broker cut, several times: every message is handled, each
// key's messages first handled in publish order, and none is left in the
// queue.
func TestConsumerAcrossConnectionLosses(t *testing.T) {
	const total, keys = 1000, 20
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	q := rabbittest.Queue(t, url, "", nil)
	var lost atomic.Int32
	obs := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(rabbitconsume.ConnectionLost); ok {
			lost.Add(1)
		}
	})
	s := newSource(t, rabbitconsume.Config{URL: proxy.URL, Queue: q, MaxReconnectDelay: 50 * time.Millisecond, Observer: obs})

	var (
		mu    sync.Mutex
		count = map[string]int{}
		next  = map[string]int{}
		order []string
	)
	stop := runConsumer(t, s, func(ctx context.Context, m *consume.Message) error {
		i, err := strconv.Atoi(string(m.Payload))
		if err != nil {
			return consume.Permanent(err)
		}
		time.Sleep(100 * time.Microsecond)
		mu.Lock()
		defer mu.Unlock()
		if count[m.ID]++; count[m.ID] == 1 {
			if i != next[m.Key] {
				order = append(order, fmt.Sprintf("key %s: message %d first handled when %d was due", m.Key, i, next[m.Key]))
			}
			next[m.Key] = i + 1
		}
		return nil
	}, consume.Config{Concurrency: 8})

	published := make(chan struct{})
	defer func() { <-published }()
	go func() {
		defer close(published)
		var msgs []consume.Message
		for i := range total / keys {
			for k := range keys {
				msgs = append(msgs, consume.Message{ID: fmt.Sprintf("m-%d-%d", k, i), Key: fmt.Sprint("key-", k), Payload: []byte(strconv.Itoa(i))})
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for len(msgs) > 0 {
			n := min(len(msgs), 50)
			publishMessages(t, ctx, url, q, msgs[:n]...)
			msgs = msgs[n:]
		}
	}()
	done := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(count)
	}
	for cut := range 6 {
		eventually(t, "progress", func() bool { return done() >= (cut+1)*total/8 })
		if cut%2 == 0 {
			proxy.Cut()
		} else if c := rabbitconsume.SourceConnection(s); c != nil {
			_ = c.Close()
		}
	}
	eventually(t, "every message", func() bool { return done() == total })
	<-published
	stop()
	mu.Lock()
	defer mu.Unlock()
	calls := 0
	for _, n := range count {
		calls += n
	}
	t.Logf("%d handler calls for %d messages, %d connections lost", calls, total, lost.Load())
	assert.GreaterOrEqual(t, lost.Load(), int32(6))
	assert.Empty(t, order)
	assert.Equal(t, 0, queueLength(t, url, q), "messages left in the queue")
}

// TestDeadLetterAndReplay: a message that keeps failing is dead-lettered
// after MaxAttempts into the dead-letter queue through rabbitdlq (its
// attempts recorded) and acknowledged; once the handler is fixed, Replay
// puts it back and it is handled from attempt 1 with its ID and key.
func TestDeadLetterAndReplay(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	dlq := q + ".dead"
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, DeadLetterQueue: dlq, RetryTiers: []time.Duration{10 * time.Millisecond}})
	sink, err := rabbitdlq.New(rabbitconsume.SinkConfig(url, dlq))
	require.NoError(t, err)
	defer sink.Close()
	var fixed atomic.Bool
	var c calls
	stop := runConsumer(t, s, func(ctx context.Context, m *consume.Message) error {
		c.add(m)
		if m.ID == "bad-keyed" || m.ID == "bad" {
			if !fixed.Load() {
				return fmt.Errorf("bug in handling %s", m.ID)
			}
		}
		return nil
	}, consume.Config{MaxAttempts: 3, InPlaceAttempts: consume.NoInPlaceRetries, Redelivery: retry.Constant{Delay: 10 * time.Millisecond}, DeadLetters: sink})
	publishMessages(t, context.Background(), url, q,
		consume.Message{ID: "bad-keyed", Key: "k", Payload: []byte("1")},
		consume.Message{ID: "good-keyed", Key: "k", Payload: []byte("2")},
		consume.Message{ID: "bad", Payload: []byte("3")})
	eventually(t, "both dead letters", func() bool { return queueLength(t, url, dlq) == 2 })
	eventually(t, "the next message of the key", func() bool { _, ok := c.find("good-keyed", 1); return ok })
	stop()
	for _, id := range []string{"bad-keyed", "bad"} {
		var attempts []int
		for _, h := range c.list() {
			if h.id == id {
				attempts = append(attempts, h.attempt)
			}
		}
		assert.Equal(t, []int{1, 2, 3}, attempts, id)
	}
	assert.Equal(t, 0, queueLength(t, url, q), "the dead-lettered messages were not acknowledged")

	dl, err := rabbitconsume.NewDeadLetters(rabbitconsume.DeadLettersConfig{URL: url, Queue: dlq, ReplayTo: q})
	require.NoError(t, err)
	defer dl.Close()
	letters, err := dl.List(context.Background(), 10)
	require.NoError(t, err)
	require.Len(t, letters, 2)
	for _, l := range letters {
		// The keyed message was held in process for all its attempts; the
		// unkeyed one went through the broker, and its letter has the
		// runs of its last delivery only.
		runs := map[string]int{"bad-keyed": 3, "bad": 1}[l.Item.ID]
		assert.Equal(t, runs, l.AttemptCount, l.Item.ID)
		assert.Equal(t, 3, l.Item.Attempt)
		assert.Contains(t, l.Err, "bug in handling "+l.Item.ID)
	}

	fixed.Store(true)
	c = calls{}
	s2 := newSource(t, rabbitconsume.Config{URL: url, Queue: q, DeadLetterQueue: dlq})
	runConsumer(t, s2, func(ctx context.Context, m *consume.Message) error { c.add(m); return nil }, consume.Config{DeadLetters: sink})
	n, err := dl.Replay(context.Background(), 10, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	eventually(t, "the replayed messages", func() bool { return len(c.list()) == 2 })
	for _, h := range c.list() {
		assert.Equal(t, 1, h.attempt, h.id)
		if h.id == "bad-keyed" {
			assert.Equal(t, "k", h.key)
		} else {
			assert.Equal(t, "bad", h.id)
		}
	}
	assert.Equal(t, 0, queueLength(t, url, dlq), "replayed letters left in the dead-letter queue")
}

// TestPrefetchBelowMaxPendingFails: a Consumer that may hold more messages
// than the Source's prefetch fails at once, saying what to set.
func TestPrefetchBelowMaxPendingFails(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, Prefetch: 10})
	c, err := consume.New(s, consume.HandlerFunc(func(context.Context, *consume.Message) error { return nil }), consume.Config{Concurrency: 4, MaxPending: 11})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.Run(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "rabbitconsume: Receive: asked for up to 11 messages, more than Config.Prefetch (10)")
	require.NoError(t, c.Close(ctx))

	// MaxPending equal to the prefetch runs.
	s = newSource(t, rabbitconsume.Config{URL: url, Queue: q, Prefetch: 10})
	publishMessages(t, ctx, url, q, consume.Message{ID: "a"})
	var got atomic.Int32
	runConsumer(t, s, func(context.Context, *consume.Message) error { got.Add(1); return nil }, consume.Config{Concurrency: 4, MaxPending: 10})
	eventually(t, "the message", func() bool { return got.Load() == 1 })
}
