package rabbitoutbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connected returns a publisher to a fresh exchange whose every message
// reaches d, once it has connected (and so knows the frame_max), and its
// connection.
func connected(ctx context.Context, t *testing.T) (url, exchange string, d <-chan amqp.Delivery, p *rabbitoutbox.Publisher, conn *amqp.Connection) {
	url = rabbittest.URL(t)
	exchange = rabbittest.Exchange(t, url)
	d = rabbittest.Consume(t, url, rabbittest.Queue(t, url, exchange, nil, "#"))
	p = newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: exchange})
	require.NoError(t, p.Publish(ctx, outbox.NewMessage("orders", "warm-up", nil)))
	receive(t, d, 1)
	return url, exchange, d, p, rabbitoutbox.PublisherConnection(p)
}

// TestHeaderFrameLimitIsExact: the largest header value Check accepts is
// published and confirmed (the broker does not close the connection with
// frame_too_large), and one byte more is refused without sending. So the
// publisher measures the header frame as the broker does.
func TestHeaderFrameLimitIsExact(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url, x, d, p, conn := connected(ctx, t)

	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC) // the same length every time
	msg := func(n int) outbox.Message {
		m := outbox.NewMessage("orders", "k", []byte("edge"))
		m.Headers = map[string]string{"big": strings.Repeat("v", n)}
		m.CreatedAt = at
		return m
	}
	lo, hi := 0, 200<<10 // Check accepts lo and refuses hi
	require.NoError(t, p.Check(msg(lo)))
	require.ErrorIs(t, p.Check(msg(hi)), outbox.ErrInvalidMessage)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if p.Check(msg(mid)) == nil {
			lo = mid
		} else {
			hi = mid
		}
	}
	t.Logf("the largest header value that fits: %d bytes", lo)
	assert.Greater(t, lo, 120<<10)

	fits := msg(lo)
	require.NoError(t, p.Publish(ctx, fits), "the broker takes the largest header frame Check accepts")
	assert.Equal(t, fits.ID, receive(t, d, 1)[0].ID)
	err := p.Publish(ctx, msg(lo+1))
	assert.ErrorIs(t, err, outbox.ErrInvalidMessage)
	assert.ErrorIs(t, err, rabbitmq.ErrInvalid)
	assert.False(t, conn.IsClosed(), "the connection is still up")
	assert.Same(t, conn, rabbitoutbox.PublisherConnection(p), "no reconnect was needed")

	// Sent anyway on a connection of its own, the same message 8 bytes
	// larger is confirmed and 9 bytes larger makes the broker close that
	// connection: the publisher's limit is AMQP's (the whole frame within
	// frame_max), RabbitMQ's is the frame's payload within frame_max.
	raw, err := amqp.Dial(url)
	require.NoError(t, err)
	defer raw.Close()
	closed := raw.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := raw.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	send := func(n int) (*amqp.DeferredConfirmation, error) {
		m := msg(n)
		return ch.PublishWithDeferredConfirmWithContext(ctx, x, "orders", false, false, amqp.Publishing{
			Headers: amqp.Table{"big": m.Headers["big"], rabbitoutbox.KeyHeader: m.Key, rabbitoutbox.TopicHeader: m.Topic,
				rabbitoutbox.CreatedAtHeader: at.Format(time.RFC3339Nano)},
			DeliveryMode: amqp.Persistent, MessageId: m.ID.String(), Timestamp: at, Body: m.Payload,
		})
	}
	dc, err := send(lo + 8)
	require.NoError(t, err)
	acked, err := dc.WaitContext(ctx)
	require.NoError(t, err)
	assert.True(t, acked, "RabbitMQ takes a frame 8 bytes over AMQP's limit")
	_, err = send(lo + 9)
	require.NoError(t, err)
	select {
	case e := <-closed:
		require.NotNil(t, e)
		assert.Contains(t, e.Reason, "frame_too_large")
	case <-ctx.Done():
		t.Fatal("the broker took a header frame 9 bytes over AMQP's limit")
	}
}

// TestPoisonMessageUnderTheRelay is issue 12's item 9 under a relay: a
// message with a header name over 255 bytes and one with a 200 KiB header
// value, among good messages of other keys. Each bad one is dead-lettered
// at its first attempt, as invalid; every good message is published at its
// first attempt (no failure is charged to them), and the publisher keeps
// its one connection throughout.
func TestPoisonMessageUnderTheRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, d, p, conn := connected(ctx, t)

	longName := outbox.NewMessage("orders", "poison-1", []byte("long name"))
	longName.Headers = map[string]string{strings.Repeat("n", 300): "v"}
	bigValue := outbox.NewMessage("orders", "poison-2", []byte("big value"))
	bigValue.Headers = map[string]string{"big": strings.Repeat("v", 200<<10)}
	var good []outbox.Message
	for i := range 40 {
		good = append(good, outbox.NewMessage("orders", strings.Repeat("g", i%8+1), []byte("good")))
	}
	store := outbox.NewMemoryStore()
	require.NoError(t, store.Enqueue(ctx, append([]outbox.Message{longName, bigValue}, good...)...))

	var mu sync.Mutex
	var failed []outbox.PublishFailed
	var dead []outbox.DeadLettered
	published := 0
	allDone := make(chan struct{})
	relay, err := outbox.NewRelay(store, p, outbox.Config{
		Concurrency: 16,
		MaxAttempts: outbox.Unlimited,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e := e.(type) {
			case outbox.PublishFailed:
				failed = append(failed, e)
			case outbox.DeadLettered:
				dead = append(dead, e)
			case outbox.Published:
				published++
			}
			if published == len(good) && len(dead) == 2 {
				close(allDone)
			}
		}),
	})
	require.NoError(t, err)
	services := bulwark.Start(ctx, relay)
	select {
	case <-allDone:
	case <-ctx.Done():
		t.Fatal("the relay did not publish the good messages and dead-letter the bad ones")
	}
	require.NoError(t, services.Stop(ctx))

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, failed, "no publish failed and was retried")
	for _, e := range dead {
		assert.True(t, e.Invalid, "%s dead-lettered as invalid", e.Message.Key)
		assert.Equal(t, 1, e.Attempts)
		assert.ErrorIs(t, e.Err, rabbitmq.ErrInvalid)
		assert.NotErrorIs(t, e.Err, rabbitmq.ErrConnectionLost)
	}
	ids := map[string]bool{}
	for _, m := range receive(t, d, len(good)) {
		ids[m.ID.String()] = true
	}
	for _, m := range good {
		assert.True(t, ids[m.ID.String()], "good message %s arrived", m.ID)
	}
	assert.False(t, conn.IsClosed(), "the connection is still up")
	assert.Same(t, conn, rabbitoutbox.PublisherConnection(p), "no reconnect was needed")
	letters, err := store.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, letters, 2)
	assert.Contains(t, letters[0].LastError+letters[1].LastError, "over AMQP's 255")
	assert.Contains(t, letters[0].LastError+letters[1].LastError, "frame_max")
}
