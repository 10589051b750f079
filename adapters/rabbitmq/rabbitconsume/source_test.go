package rabbitconsume_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// newSource returns a Source for cfg, closed when the test ends, after
// which its retry queues and dead-letter queue are deleted.
func newSource(t *testing.T, cfg rabbitconsume.Config) *rabbitconsume.Source {
	t.Helper()
	url := rabbittest.URL(t)
	tiers := cfg.RetryTiers
	if tiers == nil {
		tiers = rabbitconsume.DefaultRetryTiers()
	}
	t.Cleanup(func() { // runs after Close
		names := []string{}
		for _, tier := range tiers {
			names = append(names, rabbitconsume.RetryQueueName(cfg.Queue, tier))
		}
		if cfg.DeadLetterQueue != "" {
			names = append(names, cfg.DeadLetterQueue)
		}
		deleteQueues(t, url, names...)
	})
	s, err := rabbitconsume.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, s.Close(ctx))
	})
	return s
}

func deleteQueues(t *testing.T, url string, names ...string) {
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Errorf("deleting queues: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("deleting queues: %v", err)
		return
	}
	for _, n := range names {
		if _, err := ch.QueueDelete(n, false, false, false); err != nil {
			t.Errorf("deleting queue %s: %v", n, err)
			return
		}
	}
}

// receive calls Receive until it has n deliveries, or fails the test.
func receive(t *testing.T, s *rabbitconsume.Source, n int) []consume.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []consume.Delivery
	for len(got) < n {
		ds, err := s.Receive(ctx, n-len(got))
		require.NoError(t, err, "received %d of %d", len(got), n)
		got = append(got, ds...)
	}
	return got
}

// nothingWithin checks that Receive gets nothing for d.
func nothingWithin(t *testing.T, s *rabbitconsume.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ds, err := s.Receive(ctx, 10)
	require.ErrorIs(t, err, context.DeadlineExceeded, "got %d deliveries", len(ds))
}

// publish publishes msgs to queue through the default exchange, confirmed.
func publish(t *testing.T, url, queue string, msgs ...amqp.Publishing) {
	t.Helper()
	ch := rabbittest.Channel(t, url)
	require.NoError(t, ch.Confirm(false))
	for _, m := range msgs {
		c, err := ch.PublishWithDeferredConfirm("", queue, true, false, m)
		require.NoError(t, err)
		ok, err := c.WaitContext(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
	}
}

func idsOf(ds []consume.Delivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.Message().ID)
	}
	return ids
}

// queueLength returns the number of ready messages in queue.
func queueLength(t *testing.T, url, queue string) int {
	t.Helper()
	q, err := rabbittest.Channel(t, url).QueueDeclarePassive(queue, true, false, false, false, nil)
	require.NoError(t, err)
	return q.Messages
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestOutboxMessagesDecode: a message rabbitoutbox published arrives with
// its outbox ID, key, topic, creation time and headers, attempt 1 and the
// amqp.Delivery as Metadata; acknowledged, it is gone from the queue.
func TestOutboxMessagesDecode(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "orders.#")
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url, Exchange: x})
	require.NoError(t, err)
	defer pub.Close()
	m := outbox.NewMessage("orders.created", "order-7", []byte(`{"id":7}`))
	m.Headers = map[string]string{"traceparent": "00-abc-def-01", "tenant": "t1"}
	require.NoError(t, pub.Publish(context.Background(), m))

	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q})
	d := receive(t, s, 1)[0]
	got := d.Message()
	assert.Equal(t, m.ID.String(), got.ID)
	assert.Equal(t, "order-7", got.Key)
	assert.Equal(t, "orders.created", got.Topic)
	assert.Equal(t, []byte(`{"id":7}`), got.Payload)
	assert.Equal(t, map[string]string{"traceparent": "00-abc-def-01", "tenant": "t1"}, got.Headers)
	assert.Equal(t, 1, got.Attempt)
	assert.True(t, m.CreatedAt.Equal(got.PublishedAt), "%v, want %v", got.PublishedAt, m.CreatedAt)
	meta, ok := got.Metadata.(amqp.Delivery)
	require.True(t, ok, "Metadata is a %T", got.Metadata)
	assert.Equal(t, x, meta.Exchange)
	require.NoError(t, d.Extend(context.Background()))
	require.NoError(t, d.Ack(context.Background()))

	require.NoError(t, s.Close(context.Background()))
	assert.Equal(t, 0, queueLength(t, url, q), "the acknowledged message is still queued")
	_, err = s.Receive(context.Background(), 1)
	assert.ErrorIs(t, err, bulwark.ErrClosed)
	assert.ErrorIs(t, err, rabbitconsume.ErrClosed)
}

// TestReceiveBatchesInOrder: Receive returns up to max deliveries, in the
// queue's order, and waits for the first.
func TestReceiveBatchesInOrder(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	var msgs []amqp.Publishing
	for i := range 20 {
		msgs = append(msgs, amqp.Publishing{MessageId: fmt.Sprint(i), Body: []byte("x")})
	}
	publish(t, url, q, msgs...)
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, Prefetch: 20})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []consume.Delivery
	for len(got) < 20 {
		ds, err := s.Receive(ctx, 7)
		require.NoError(t, err)
		assert.NotEmpty(t, ds)
		assert.LessOrEqual(t, len(ds), 7)
		got = append(got, ds...)
	}
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprint(i))
	}
	assert.Equal(t, want, idsOf(got))
	for _, d := range got {
		require.NoError(t, d.Ack(context.Background()))
	}
	nothingWithin(t, s, 200*time.Millisecond)
}

// TestPrefetchBoundsUnacknowledged: the broker sends no more than Prefetch
// unacknowledged messages; acknowledging one lets the next come.
func TestPrefetchBoundsUnacknowledged(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	var msgs []amqp.Publishing
	for i := range 5 {
		msgs = append(msgs, amqp.Publishing{MessageId: fmt.Sprint(i)})
	}
	publish(t, url, q, msgs...)
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, Prefetch: 3})
	got := receive(t, s, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := s.Receive(ctx, 3)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, got[0].Ack(context.Background()))
	assert.Equal(t, []string{"3"}, idsOf(receive(t, s, 1)))
}

// TestReleaseRequeues: a released message comes back at once, with the
// same ID and attempt.
func TestReleaseRequeues(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "m1", Body: []byte("a")})
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q})
	d := receive(t, s, 1)[0]
	require.NoError(t, d.Release(context.Background()))
	again := receive(t, s, 1)[0]
	assert.Equal(t, "m1", again.Message().ID)
	assert.Equal(t, 1, again.Message().Attempt)
	assert.True(t, again.Message().Metadata.(amqp.Delivery).Redelivered)
	require.NoError(t, again.Ack(context.Background()))
}

// TestRedeliverThroughRetryQueue: Redeliver publishes the message to its
// tier's retry queue and acknowledges it; it comes back after the delay
// with the same ID, key, topic, headers and body and the next attempt.
func TestRedeliverThroughRetryQueue(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "#")
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url, Exchange: x})
	require.NoError(t, err)
	defer pub.Close()
	m := outbox.NewMessage("orders.paid", "", []byte("p"))
	m.Headers = map[string]string{"h": "v"}
	require.NoError(t, pub.Publish(context.Background(), m))
	// and one without a message-id, topic or attempt header
	publish(t, url, q, amqp.Publishing{Body: []byte("plain"), Headers: amqp.Table{"n": int32(5)}})

	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, RetryTiers: []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}})
	ds := receive(t, s, 2)
	first := *ds[0].Message()
	second := *ds[1].Message()
	assert.Regexp(t, "^sha256:[0-9a-f]{64}$", second.ID)
	assert.Equal(t, q, second.Topic)

	start := time.Now()
	require.NoError(t, ds[0].Redeliver(context.Background(), 150*time.Millisecond)) // rounds up to 300ms
	assert.Equal(t, 1, queueLength(t, url, rabbitconsume.RetryQueueName(q, 300*time.Millisecond)), "the copy is in the 300ms retry queue")
	assert.Equal(t, 0, queueLength(t, url, q), "the original is acknowledged")
	require.NoError(t, ds[1].Redeliver(context.Background(), 0)) // the first tier

	back := receive(t, s, 1)[0].Message()
	assert.Equal(t, second.ID, back.ID)
	assert.Equal(t, 2, back.Attempt)
	assert.Equal(t, q, back.Topic)
	assert.Equal(t, map[string]string{"n": "5"}, back.Headers)
	assert.Equal(t, []byte("plain"), back.Payload)

	back = receive(t, s, 1)[0].Message()
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	assert.Equal(t, first.ID, back.ID)
	assert.Equal(t, 2, back.Attempt)
	assert.Equal(t, "orders.paid", back.Topic)
	assert.Equal(t, map[string]string{"h": "v"}, back.Headers, "the broker's x-death headers are left out")
	assert.True(t, first.PublishedAt.Equal(back.PublishedAt))
	assert.Equal(t, []byte("p"), back.Payload)
}

// TestShortRetryNotBehindLongOne: a message redelivered after 50ms comes
// back in well under the 5s of a message redelivered just before it, and
// the 5s one no sooner than 5s.
func TestShortRetryNotBehindLongOne(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "slow"}, amqp.Publishing{MessageId: "fast"})
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q})
	ds := receive(t, s, 2)
	start := time.Now()
	require.NoError(t, ds[0].Redeliver(context.Background(), 5*time.Second))
	require.NoError(t, ds[1].Redeliver(context.Background(), 50*time.Millisecond))
	d := receive(t, s, 1)[0]
	assert.Equal(t, "fast", d.Message().ID)
	assert.Less(t, time.Since(start), 2*time.Second, "the 50ms retry waited behind the 5s one")
	require.NoError(t, d.Ack(context.Background()))
	d = receive(t, s, 1)[0]
	assert.Equal(t, "slow", d.Message().ID)
	assert.GreaterOrEqual(t, time.Since(start), 5*time.Second)
	assert.Equal(t, 2, d.Message().Attempt)
	require.NoError(t, d.Ack(context.Background()))
}

// TestQuorumRetryQueues: with RetryQueueArgs, the retry queues are
// declared with them (here quorum queues that dead-letter at least once)
// and the copy still comes back.
func TestQuorumRetryQueues(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "a"})
	tiers := []time.Duration{30 * time.Millisecond}
	args := amqp.Table{"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, RetryTiers: tiers, RetryQueueArgs: args})
	require.NoError(t, receive(t, s, 1)[0].Redeliver(context.Background(), 0))
	d := receive(t, s, 1)[0]
	assert.Equal(t, 2, d.Message().Attempt)
	require.NoError(t, d.Ack(context.Background()))
	// The queue is a quorum queue: declaring it as a classic one fails.
	_, err := rabbittest.Channel(t, url).QueueDeclare(rabbitconsume.RetryQueueName(q, tiers[0]), true, false, false, false, amqp.Table{"x-message-ttl": int64(30), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": q})
	var aerr *amqp.Error
	require.ErrorAs(t, err, &aerr)
	assert.Equal(t, amqp.PreconditionFailed, aerr.Code)
}

// TestRedeliverFailureGivesTheMessageBack: when the copy cannot be
// stored (here its retry queue cannot be declared), Redeliver returns the
// error and gives the original back to the queue, which delivers it again
// at once, on the same channel.
func TestRedeliverFailureGivesTheMessageBack(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "a"})
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, RetryTiers: []time.Duration{time.Millisecond},
		RetryQueueArgs: amqp.Table{"x-queue-type": "no-such-type"}})
	ch := func() *amqp.Channel { return rabbitconsume.SourceChannel(s) }
	d := receive(t, s, 1)[0]
	before := ch()
	err := d.Redeliver(context.Background(), 0)
	require.Error(t, err)
	assert.NotErrorIs(t, err, consume.ErrGone)
	assert.ErrorContains(t, err, "rabbitconsume: declaring retry queue")
	assert.ErrorContains(t, err, "the message went back to the queue")
	again := receive(t, s, 1)[0]
	assert.Equal(t, "a", again.Message().ID)
	assert.Equal(t, 1, again.Message().Attempt)
	assert.Same(t, before, ch(), "the consuming channel was lost")
	require.NoError(t, again.Ack(context.Background()))
}

// TestRetryQueueDeletedIsDeclaredAgain: Redeliver declares a retry queue
// again when it was deleted after its first use.
func TestRetryQueueDeletedIsDeclaredAgain(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "a"})
	tiers := []time.Duration{20 * time.Millisecond}
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, RetryTiers: tiers})
	require.NoError(t, receive(t, s, 1)[0].Redeliver(context.Background(), time.Millisecond))
	d := receive(t, s, 1)[0]
	deleteQueues(t, url, rabbitconsume.RetryQueueName(q, tiers[0]))
	require.NoError(t, d.Redeliver(context.Background(), time.Millisecond))
	d = receive(t, s, 1)[0]
	assert.Equal(t, 3, d.Message().Attempt)
	require.NoError(t, d.Ack(context.Background()))
}

// TestLostChannel: after the consuming connection (or only its channel)
// is closed underneath, deliveries from it return consume.ErrGone, a
// ConnectionLost is reported, Receive connects again, and the messages
// come again.
func TestLostChannel(t *testing.T) {
	for _, what := range []string{"connection", "channel"} {
		t.Run(what, func(t *testing.T) {
			url := rabbittest.URL(t)
			q := rabbittest.Queue(t, url, "", nil)
			publish(t, url, q, amqp.Publishing{MessageId: "a"}, amqp.Publishing{MessageId: "b"}, amqp.Publishing{MessageId: "c"})
			var mu sync.Mutex
			var events []bulwark.Event
			obs := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { mu.Lock(); events = append(events, e); mu.Unlock() })
			s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, Name: "src", Observer: obs})
			ds := receive(t, s, 3)
			if what == "connection" {
				require.NoError(t, rabbitconsume.SourceConnection(s).Close())
			} else {
				require.NoError(t, rabbitconsume.SourceChannel(s).Close())
			}
			ctx := context.Background()
			assert.ErrorIs(t, ds[0].Ack(ctx), consume.ErrGone)
			assert.ErrorIs(t, ds[1].Release(ctx), consume.ErrGone)
			assert.ErrorIs(t, ds[2].Redeliver(ctx, time.Millisecond), consume.ErrGone)

			again := receive(t, s, 3)
			assert.Equal(t, []string{"a", "b", "c"}, idsOf(again))
			for _, d := range again {
				require.NoError(t, d.Ack(ctx))
			}
			nothingWithin(t, s, 300*time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, events)
			lost, ok := events[0].(rabbitconsume.ConnectionLost)
			require.True(t, ok, "%T", events[0])
			assert.Equal(t, "rabbitconsume.connection_lost", lost.Kind())
			assert.Equal(t, "src", lost.Component())
			assert.Equal(t, q, lost.Queue)
		})
	}
}

// TestTopologyDeclaredAgain: when the queue is deleted under the Source
// (the broker cancels its consumer), Receive declares the queue, its
// bindings and its retry queues again, and messages published to the
// exchange reach it.
func TestTopologyDeclaredAgain(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Name("bulwark_test_q_")
	dlq := q + ".dead"
	t.Cleanup(func() { deleteQueues(t, url, q) })
	tiers := []time.Duration{10 * time.Millisecond}
	var mu sync.Mutex
	var lost []error
	obs := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if l, ok := e.(rabbitconsume.ConnectionLost); ok {
			mu.Lock()
			lost = append(lost, l.Err)
			mu.Unlock()
		}
	})
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, Bindings: []rabbitconsume.Binding{{Exchange: x, Key: "k.#"}},
		RetryTiers: tiers, DeadLetterQueue: dlq, Observer: obs})
	ch := rabbittest.Channel(t, url)
	require.NoError(t, ch.Confirm(false))
	send := func(id string) {
		c, err := ch.PublishWithDeferredConfirm(x, "k.1", true, false, amqp.Publishing{MessageId: id})
		require.NoError(t, err)
		ok, err := c.WaitContext(context.Background())
		require.NoError(t, err)
		require.True(t, ok)
	}
	nothingWithin(t, s, 50*time.Millisecond) // connects and declares
	send("a")
	d := receive(t, s, 1)[0]
	require.NoError(t, d.Redeliver(context.Background(), 0)) // declares the retry queue
	d = receive(t, s, 1)[0]
	require.NoError(t, d.Ack(context.Background()))

	deleteQueues(t, url, q, rabbitconsume.RetryQueueName(q, tiers[0]), dlq)
	nothingWithin(t, s, 200*time.Millisecond) // notices and declares again
	send("b")
	assert.Equal(t, []string{"b"}, idsOf(receive(t, s, 1)))
	assert.Equal(t, 0, queueLength(t, url, rabbitconsume.RetryQueueName(q, tiers[0])), "the retry queue is declared again")
	assert.Equal(t, 0, queueLength(t, url, dlq), "the dead-letter queue is declared again")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, lost, 1)
	assert.EqualError(t, lost[0], "the broker cancelled the consumer")
}

// TestPermanentErrors: a queue that exists with other arguments, or a
// passive queue that does not exist, fails Receive at once.
func TestPermanentErrors(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", amqp.Table{"x-max-length": int64(10)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q})
	_, err := s.Receive(ctx, 1)
	var aerr *amqp.Error
	require.ErrorAs(t, err, &aerr)
	assert.Equal(t, amqp.PreconditionFailed, aerr.Code)
	assert.ErrorContains(t, err, "rabbitconsume: declaring queue")

	s = newSource(t, rabbitconsume.Config{URL: url, Queue: q, QueueArgs: amqp.Table{"x-max-length": int64(10)}})
	nothingWithin(t, s, 100*time.Millisecond)
	s = newSource(t, rabbitconsume.Config{URL: url, Queue: q, Passive: true})
	nothingWithin(t, s, 100*time.Millisecond)

	s = newSource(t, rabbitconsume.Config{URL: url, Queue: rabbittest.Name("bulwark_test_missing_"), Passive: true})
	_, err = s.Receive(ctx, 1)
	require.ErrorAs(t, err, &aerr)
	assert.Equal(t, amqp.NotFound, aerr.Code)
}

// TestReconnectsAfterRefusals: while the broker cannot be reached, Receive
// keeps trying, reporting ConnectFailed with its waits, and connects once
// it can.
func TestReconnectsAfterRefusals(t *testing.T) {
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "a"})
	var mu sync.Mutex
	var failed []rabbitconsume.ConnectFailed
	obs := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if f, ok := e.(rabbitconsume.ConnectFailed); ok {
			mu.Lock()
			failed = append(failed, f)
			n := len(failed)
			mu.Unlock()
			if n == 3 {
				proxy.Refuse(false)
			}
		}
	})
	proxy.Refuse(true)
	s := newSource(t, rabbitconsume.Config{URL: proxy.URL, Queue: q, Observer: obs, MaxReconnectDelay: 50 * time.Millisecond})
	d := receive(t, s, 1)[0]
	assert.Equal(t, "a", d.Message().ID)
	require.NoError(t, d.Ack(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(failed), 3)
	for i, f := range failed[:3] {
		assert.Equal(t, i+1, f.Attempt)
		assert.Error(t, f.Err)
		assert.LessOrEqual(t, f.Wait, 50*time.Millisecond)
		assert.Equal(t, "rabbitconsume.connect_failed", f.Kind())
	}
}

// TestReconnectWaitsOnTheClock: the wait between connection attempts is
// ReconnectBackoff's, capped by MaxReconnectDelay, on Config.Clock: no new
// attempt until the clock has moved on by it.
func TestReconnectWaitsOnTheClock(t *testing.T) {
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	q := rabbittest.Queue(t, url, "", nil)
	publish(t, url, q, amqp.Publishing{MessageId: "a"})
	fake := clocktest.New(time.Unix(0, 0))
	failed := make(chan rabbitconsume.ConnectFailed, 10)
	obs := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if f, ok := e.(rabbitconsume.ConnectFailed); ok {
			failed <- f
		}
	})
	proxy.Refuse(true)
	s := newSource(t, rabbitconsume.Config{URL: proxy.URL, Queue: q, Observer: obs, Clock: fake,
		ReconnectBackoff: retry.Constant{Delay: time.Hour}, MaxReconnectDelay: time.Minute})
	got := make(chan []consume.Delivery, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ds, err := s.Receive(ctx, 1)
		assert.NoError(t, err)
		got <- ds
	}()
	f := <-failed
	assert.Equal(t, 1, f.Attempt)
	assert.Equal(t, time.Minute, f.Wait, "the backoff's hour is capped by MaxReconnectDelay")
	fake.BlockUntil(1)
	proxy.Refuse(false)
	fake.Advance(time.Minute - time.Nanosecond)
	assert.Equal(t, 0, proxy.Conns(), "connected again before the wait was over")
	fake.Advance(time.Nanosecond)
	ds := <-got
	require.Len(t, ds, 1)
	assert.Equal(t, "a", ds[0].Message().ID)
	require.NoError(t, ds[0].Ack(context.Background()))
	assert.Empty(t, failed)
}

// TestReceiveEnds: Receive returns ctx's error when ctx ends, and
// ErrClosed when the Source is closed while it waits.
func TestReceiveEnds(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q})
	nothingWithin(t, s, 50*time.Millisecond)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Receive(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, s.Close(context.Background()))
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, bulwark.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Receive did not return after Close")
	}
	require.NoError(t, s.Close(context.Background()), "closing again")
	_, err := s.Receive(context.Background(), 0)
	assert.EqualError(t, err, "rabbitconsume: Receive: max must be >= 1, got 0")
}

// TestReconnectUnderLoad consumes 2,000 messages, redelivering some and
// releasing others, while the consuming connection is closed underneath
// and the network cut several times; every message is acknowledged at
// least once and none is left in the queue or its retry queues.
func TestReconnectUnderLoad(t *testing.T) {
	const total = 2000
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	q := rabbittest.Queue(t, url, "", nil)
	tiers := []time.Duration{5 * time.Millisecond, 50 * time.Millisecond}
	s := newSource(t, rabbitconsume.Config{URL: proxy.URL, Queue: q, RetryTiers: tiers, Prefetch: 50, MaxReconnectDelay: 50 * time.Millisecond})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	published := make(chan struct{})
	defer func() { cancel(); <-published }()
	go func() { // publishes while the consumer runs
		defer close(published)
		ch := rabbittest.Channel(t, url)
		if err := ch.Confirm(false); err != nil {
			t.Error(err)
			return
		}
		for i := range total {
			c, err := ch.PublishWithDeferredConfirm("", q, true, false, amqp.Publishing{MessageId: fmt.Sprint(i), DeliveryMode: amqp.Persistent})
			if err == nil {
				_, err = c.WaitContext(ctx)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()

	acked := make(map[string]bool, total)
	gone, received, cuts := 0, 0, 0
	for len(acked) < total {
		ds, err := s.Receive(ctx, 20)
		require.NoError(t, err, "%d of %d acknowledged", len(acked), total)
		for i, d := range ds {
			if i == len(ds)/2 && received > (cuts+1)*300 && cuts < 5 {
				// Cut with the rest of the batch unsettled.
				cuts++
				if cuts%2 == 0 {
					proxy.Cut()
				} else if c := rabbitconsume.SourceConnection(s); c != nil {
					_ = c.Close()
				}
			}
			received++
			id := d.Message().ID
			switch {
			case received%97 == 0:
				err = d.Redeliver(ctx, time.Duration(received%3)*20*time.Millisecond)
			case received%89 == 0:
				err = d.Release(ctx)
			default:
				err = d.Ack(ctx)
				if err == nil {
					acked[id] = true
				}
			}
			if errors.Is(err, consume.ErrGone) {
				gone++
				continue
			}
			require.NoError(t, err)
		}
	}
	t.Logf("%d deliveries for %d messages, %d gone with their channel, %d cuts", received, total, gone, cuts)
	assert.Equal(t, 5, cuts)
	assert.Positive(t, gone, "no delivery was in flight at a cut")
	require.NoError(t, s.Close(context.Background()))
	for _, name := range []string{q, rabbitconsume.RetryQueueName(q, tiers[0]), rabbitconsume.RetryQueueName(q, tiers[1])} {
		// Redelivered copies of acknowledged messages may still be on
		// their way back (duplicates); none may be a message never acked.
		ch := rabbittest.Channel(t, url)
		for {
			d, ok, err := ch.Get(name, true)
			require.NoError(t, err)
			if !ok {
				break
			}
			assert.True(t, acked[d.MessageId], "message %s left in %s was never acknowledged", d.MessageId, name)
		}
	}
}
