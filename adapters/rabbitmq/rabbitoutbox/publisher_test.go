package rabbitoutbox_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func newPublisher(t *testing.T, cfg rabbitoutbox.Config) *rabbitoutbox.Publisher {
	t.Helper()
	p, err := rabbitoutbox.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

// receive returns the next n deliveries of d decoded, or fails.
func receive(t *testing.T, d <-chan amqp.Delivery, n int) []outbox.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ds, err := rabbittest.Receive(ctx, d, n)
	require.NoError(t, err, "received %d of %d", len(ds), n)
	var out []outbox.Message
	for _, m := range ds {
		msg, err := rabbitoutbox.Decode(m)
		require.NoError(t, err)
		out = append(out, msg)
	}
	return out
}

func TestPublisherConformance(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // after every connection's cleanup
	url := rabbittest.URL(t)
	outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness {
		x := rabbittest.Exchange(t, url)
		q := rabbittest.Queue(t, url, x, nil, "#")
		d := rabbittest.Consume(t, url, q)
		var mu sync.Mutex
		var got []outbox.Message
		return outboxtest.PublisherHarness{
			Publisher: newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x, MaxMessageSize: 1 << 20}),
			Topic:     "orders",
			// AMQP's short strings (routing keys, header names), the
			// connection's frame_max for the headers (128 KiB), the
			// publisher's MaxMessageSize, rabbitoutbox's own headers.
			Limits: outboxtest.Limits{
				MaxTopic:           255,
				MaxHeaderName:      255,
				MaxHeaders:         128 << 10,
				MaxKey:             128 << 10,
				MaxPayload:         1<<20 + 1,
				InvalidHeaderNames: []string{rabbitoutbox.KeyHeader, rabbitoutbox.TopicHeader, rabbitoutbox.CreatedAtHeader, "Bulwark-Other"},
			},
			Receive: func(ctx context.Context, n int) ([]outbox.Message, error) {
				mu.Lock()
				defer mu.Unlock()
				ds, err := rabbittest.Receive(ctx, d, n-len(got))
				for _, m := range ds {
					msg, derr := rabbitoutbox.Decode(m)
					if derr != nil {
						return nil, derr
					}
					got = append(got, msg)
				}
				if err != nil {
					return nil, err
				}
				return got[:n], nil
			},
		}
	})
}

func TestZeroPublisherPanics(t *testing.T) {
	assert.PanicsWithValue(t, "rabbitoutbox: Publisher used without New", func() {
		_ = new(rabbitoutbox.Publisher).Publish(context.Background(), outbox.Message{})
	})
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  rabbitoutbox.Config
		want string
	}{
		{"both", rabbitoutbox.Config{URL: "amqp://localhost/", Dial: func(context.Context) (*amqp.Connection, error) { return nil, nil }}, "rabbitoutbox: set Config.URL or Config.Dial, not both"},
		{"bad URL", rabbitoutbox.Config{URL: "http://localhost/"}, "rabbitoutbox: Config.URL: AMQP scheme must be either 'amqp://' or 'amqps://'"},
		{"negative size", rabbitoutbox.Config{URL: "amqp://localhost/", MaxMessageSize: -1}, "rabbitoutbox: Config.MaxMessageSize must be 0 (meaning 16 MiB) or in [1, 512 MiB], got -1"},
		{"huge size", rabbitoutbox.Config{URL: "amqp://localhost/", MaxMessageSize: 512<<20 + 1}, "rabbitoutbox: Config.MaxMessageSize must be 0 (meaning 16 MiB) or in [1, 512 MiB], got 536870913"},
		{"long exchange", rabbitoutbox.Config{URL: "amqp://localhost/", Exchange: strings.Repeat("x", 256)}, "rabbitoutbox: Config.Exchange must be at most 255 bytes, got 256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rabbitoutbox.New(tt.cfg)
			assert.EqualError(t, err, tt.want)
		})
	}
}

// TestRoutingKeyMapping: the routing key comes from the mapping; the topic
// still reaches the consumer.
func TestRoutingKeyMapping(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "events.orders")
	d := rabbittest.Consume(t, url, q)
	p := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x, RoutingKey: func(m outbox.Message) string { return "events." + m.Topic }})
	m := outbox.NewMessage("orders", "k", []byte("x"))
	require.NoError(t, p.Publish(context.Background(), m))
	got := receive(t, d, 1)[0]
	assert.Equal(t, "orders", got.Topic)
	assert.Equal(t, m.ID, got.ID)
}

// TestDefaultExchange: with no exchange the routing key names the queue;
// messages are persistent and carry the AMQP message-id and timestamp.
func TestDefaultExchange(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	d := rabbittest.Consume(t, url, q)
	p := newPublisher(t, rabbitoutbox.Config{URL: url})
	m := outbox.NewMessage(q, "k", []byte("x"))
	require.NoError(t, p.Publish(context.Background(), m))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := rabbittest.Receive(ctx, d, 1)
	require.NoError(t, err)
	assert.Equal(t, uint8(amqp.Persistent), ds[0].DeliveryMode)
	assert.Equal(t, m.ID.String(), ds[0].MessageId)
	assert.Equal(t, m.CreatedAt.Unix(), ds[0].Timestamp.Unix())
}

// TestUnroutableIsAnError: a message no queue is bound for fails with
// ErrUnroutable (the broker returned it), and the publisher goes on working.
func TestUnroutableIsAnError(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "bound")
	d := rabbittest.Consume(t, url, q)
	p := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x})
	for range 3 {
		err := p.Publish(context.Background(), outbox.NewMessage("nowhere", "k", []byte("lost")))
		require.ErrorIs(t, err, rabbitmq.ErrUnroutable)
		var ue *rabbitmq.UnroutableError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, x, ue.Exchange)
		assert.Equal(t, "nowhere", ue.RoutingKey)
		assert.Equal(t, uint16(312), ue.Code)
		m := outbox.NewMessage("bound", "k", []byte("kept"))
		require.NoError(t, p.Publish(context.Background(), m))
		assert.Equal(t, m.ID, receive(t, d, 1)[0].ID)
	}
}

// TestReturnsGoToTheirOwnPublish: among concurrent publishes, only the
// unroutable ones fail.
func TestReturnsGoToTheirOwnPublish(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "bound")
	d := rabbittest.Consume(t, url, q)
	p := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x})
	const n = 400
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := "bound"
			if i%3 == 0 {
				topic = "nowhere"
			}
			errs[i] = p.Publish(context.Background(), outbox.NewMessage(topic, "k", nil))
		}()
	}
	wg.Wait()
	routed := 0
	for i, err := range errs {
		if i%3 == 0 {
			assert.ErrorIs(t, err, rabbitmq.ErrUnroutable, "publish %d", i)
		} else {
			assert.NoError(t, err, "publish %d", i)
			routed++
		}
	}
	receive(t, d, routed)
}

// TestNackIsAnError: a queue that rejects publishes when full makes the
// broker nack, and Publish fails with ErrNacked.
func TestNackIsAnError(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	rabbittest.Queue(t, url, x, amqp.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"}, "full")
	p := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x})
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("full", "k", nil)))
	err := p.Publish(context.Background(), outbox.NewMessage("full", "k", nil))
	assert.ErrorIs(t, err, rabbitmq.ErrNacked)
}

// TestChannelErrorThenRecovers: publishing to a missing exchange closes the
// channel (404); Publish fails, and the next Publish opens a new channel.
func TestChannelErrorThenRecovers(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "#")
	d := rabbittest.Consume(t, url, q)
	missing := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: rabbittest.Name("missing_")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := missing.Publish(ctx, outbox.NewMessage("k", "k", nil))
	require.ErrorIs(t, err, rabbitmq.ErrConnectionLost)
	assert.ErrorContains(t, err, "NOT_FOUND")

	p := newPublisher(t, rabbitoutbox.Config{URL: url, Exchange: x})
	require.NoError(t, p.Publish(ctx, outbox.NewMessage("a", "k", nil)))
	require.NoError(t, rabbitoutbox.PublisherChannel(p).Close(), "closing the publisher's channel")
	m := outbox.NewMessage("b", "k", nil)
	require.NoError(t, p.Publish(ctx, m), "a new channel after the old one closed")
	require.NoError(t, rabbitoutbox.PublisherConnection(p).Close(), "closing the publisher's connection")
	m2 := outbox.NewMessage("c", "k", nil)
	require.NoError(t, p.Publish(ctx, m2), "a new connection after the old one closed")
	got := receive(t, d, 3)
	assert.Equal(t, m.ID, got[1].ID)
	assert.Equal(t, m2.ID, got[2].ID)
}

// TestConnectionLostWhileWaiting: a publish waiting for its confirmation
// fails promptly with ErrConnectionLost when the connection is cut, and the
// next one reconnects.
func TestConnectionLostWhileWaiting(t *testing.T) {
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "#")
	d := rabbittest.Consume(t, url, q)
	p := newPublisher(t, rabbitoutbox.Config{URL: proxy.URL, Exchange: x})
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("a", "k", nil)))

	proxy.Stall(true) // the confirmation cannot arrive
	done := make(chan error, 1)
	go func() { done <- p.Publish(context.Background(), outbox.NewMessage("b", "k", nil)) }()
	select {
	case err := <-done:
		t.Fatalf("Publish returned before its confirmation: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	proxy.Cut()
	proxy.Stall(false)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, rabbitmq.ErrConnectionLost)
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still waiting 5s after its connection was cut")
	}
	m := outbox.NewMessage("c", "k", nil)
	require.NoError(t, p.Publish(context.Background(), m))
	// "b" may or may not have reached the broker; "c" did.
	seen := 0
	for receive(t, d, 1)[0].ID != m.ID {
		seen++
	}
	assert.LessOrEqual(t, seen, 2, "only a and b come before c")
}

// TestCancelWhileWaiting: ctx ends a publish promptly while it waits for a
// confirmation that does not come, and while it waits for a connection.
func TestCancelWhileWaiting(t *testing.T) {
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	x := rabbittest.Exchange(t, url)
	rabbittest.Queue(t, url, x, nil, "#")
	p := newPublisher(t, rabbitoutbox.Config{URL: proxy.URL, Exchange: x})
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("a", "k", nil)))

	proxy.Stall(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Publish(ctx, outbox.NewMessage("b", "k", nil))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	proxy.Stall(false)

	// A dial that hangs: the broker accepts TCP but never answers.
	conn := rabbitoutbox.PublisherConnection(p)
	proxy.Cut()
	require.Eventually(t, conn.IsClosed, 5*time.Second, time.Millisecond)
	proxy.Stall(true)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	start = time.Now()
	err = p.Publish(ctx2, outbox.NewMessage("c", "k", nil))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	proxy.Stall(false)
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("d", "k", nil)), "connects again once the broker answers")
}

// TestBrokerAway: while the broker refuses connections Publish fails
// promptly, and succeeds once it is back.
func TestBrokerAway(t *testing.T) {
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	x := rabbittest.Exchange(t, url)
	rabbittest.Queue(t, url, x, nil, "#")
	p := newPublisher(t, rabbitoutbox.Config{URL: proxy.URL, Exchange: x})
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("a", "k", nil)))
	proxy.Refuse(true)
	proxy.Cut()
	for range 3 {
		start := time.Now()
		err := p.Publish(context.Background(), outbox.NewMessage("b", "k", nil))
		assert.Error(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
	}
	proxy.Refuse(false)
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("c", "k", nil)))
}

func TestClosedPublisher(t *testing.T) {
	url := rabbittest.URL(t)
	p, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url})
	require.NoError(t, err)
	require.NoError(t, p.Close())
	err = p.Publish(context.Background(), outbox.NewMessage("x", "k", nil))
	assert.True(t, errors.Is(err, rabbitmq.ErrClosed), "got %v", err)
	assert.ErrorIs(t, err, bulwark.ErrClosed)
}

// TestBlockedBrokerHoldsPublishes: while the broker blocks publishers (a
// resource alarm), Publish waits without writing, returns promptly when
// its ctx ends, and goes on once the broker unblocks.
func TestBlockedBrokerHoldsPublishes(t *testing.T) {
	url := rabbittest.URL(t)
	proxy := rabbittest.NewProxy(t, url)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "#")
	d := rabbittest.Consume(t, url, q)
	p := newPublisher(t, rabbitoutbox.Config{URL: proxy.URL, Exchange: x})
	require.NoError(t, p.Publish(context.Background(), outbox.NewMessage("a", "k", nil)))
	receive(t, d, 1)

	proxy.Inject(60, "low on memory") // connection.blocked
	require.Eventually(t, func() bool { return rabbitoutbox.PublisherBlocked(p) }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Publish(ctx, outbox.NewMessage("b", "k", nil))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "the broker blocks publishers: low on memory")
	assert.Less(t, time.Since(start), 2*time.Second)

	held := outbox.NewMessage("c", "k", nil)
	done := make(chan error, 1)
	go func() { done <- p.Publish(context.Background(), held) }()
	select {
	case err := <-done:
		t.Fatalf("Publish went ahead while blocked: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	proxy.Inject(61, "") // connection.unblocked
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still held 5s after the broker unblocked")
	}
	assert.Equal(t, held.ID, receive(t, d, 1)[0].ID, "b was never sent")
}

// The zero Config is the default: a broker on this machine.
func TestZeroConfigIsTheDefault(t *testing.T) {
	_, err := rabbitoutbox.New(rabbitoutbox.Config{})
	require.NoError(t, err)
	def := rabbitoutbox.DefaultConfig()
	assert.Equal(t, rabbitmq.DefaultURL, def.URL)
	assert.Equal(t, "orders", def.RoutingKey(outbox.Message{Topic: "orders"}))
	_, err = rabbitoutbox.New(def)
	require.NoError(t, err)
}
