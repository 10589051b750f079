package natsconsume_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// env is one test's stream on a server, and a way to make Sources on it.
type env struct {
	t      *testing.T
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string // the stream's name, also its subject prefix
	cfg    natsconsume.Config
}

func newEnv(t *testing.T, url string) *env {
	nc, js := natstest.Connect(t, url)
	st, name := natstest.Stream(t, js, 0)
	return &env{t: t, nc: nc, js: js, stream: st, name: name,
		// A short FetchWait: a Receive whose ctx ends returns when its
		// pull request does, so waits for nothing end within d+FetchWait.
		cfg: natsconsume.Config{Stream: name, Durable: "d_" + randomName(), FetchWait: 200 * time.Millisecond}}
}

func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (e *env) source(change func(*natsconsume.Config)) *natsconsume.Source {
	e.t.Helper()
	cfg := e.cfg
	if change != nil {
		change(&cfg)
	}
	src, err := natsconsume.New(e.js, cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = src.Close(context.Background()) })
	return src
}

// publish publishes ms in natsconsume's format and waits for the stream.
func (e *env) publish(ms ...consume.Message) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range ms {
		if m.Topic == "" {
			m.Topic = e.name + ".t"
		}
		msg, err := natsconsume.Encode(m)
		require.NoError(e.t, err)
		_, err = e.js.PublishMsg(ctx, msg)
		require.NoError(e.t, err)
	}
}

// receive receives until n deliveries arrived or 10s passed.
func receive(t *testing.T, src *natsconsume.Source, n int) []consume.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []consume.Delivery
	for len(got) < n {
		ds, err := src.Receive(ctx, n-len(got))
		require.NoError(t, err, "received %d of %d", len(got), n)
		got = append(got, ds...)
	}
	return got
}

// nothing asserts that src receives nothing within d (and the FetchWait
// its last pull request may run past d).
func nothing(t *testing.T, src *natsconsume.Source, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ds, err := src.Receive(ctx, 10)
	for _, d := range ds {
		t.Errorf("received %s (attempt %d), expected nothing", d.Message().ID, d.Message().Attempt)
	}
	if len(ds) == 0 {
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

func ids(ds []consume.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Message().ID)
	}
	return out
}

func ackAll(t *testing.T, ds []consume.Delivery) {
	t.Helper()
	for _, d := range ds {
		require.NoError(t, d.Ack(context.Background()))
	}
}

func TestDecodesNatsoutboxMessages(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	pub, err := natsoutbox.New(e.js, natsoutbox.Config{})
	require.NoError(t, err)
	m := outbox.NewMessage(e.name+".orders", " key with spaces\n", []byte(`{"total":42}`))
	m.Headers = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "multi": "a\nb"}
	m.CreatedAt = time.Date(2026, 12, 7, 10, 0, 0, 123456789, time.UTC)
	require.NoError(t, pub.Publish(context.Background(), m))

	src := e.source(nil)
	d := receive(t, src, 1)[0]
	got := d.Message()
	assert.Equal(t, m.ID.String(), got.ID)
	assert.Equal(t, m.Key, got.Key)
	assert.Equal(t, m.Topic, got.Topic)
	assert.Equal(t, m.Payload, got.Payload)
	assert.Equal(t, m.Headers, got.Headers, "bulwark's and JetStream's headers left out, values decoded")
	assert.True(t, m.CreatedAt.Equal(got.PublishedAt), "%v", got.PublishedAt)
	assert.Equal(t, 1, got.Attempt)
	meta, ok := got.Metadata.(*natsconsume.Metadata)
	require.True(t, ok, "%T", got.Metadata)
	assert.Equal(t, e.name, meta.Stream)
	assert.Equal(t, e.cfg.Durable, meta.Consumer)
	assert.Equal(t, uint64(1), meta.StreamSeq)
	assert.Equal(t, uint64(1), meta.ConsumerSeq)
	assert.Equal(t, uint64(1), meta.NumDelivered)
	assert.WithinDuration(t, time.Now(), meta.Timestamp, time.Minute)
	assert.Equal(t, m.ID.String(), meta.Header.Get(jetstream.MsgIDHeader))
	require.NoError(t, d.Ack(context.Background()))
}

func TestDecodesForeignMessages(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	ctx := context.Background()
	before := time.Now()
	_, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: e.name + ".a", Data: []byte("1"), Header: nats.Header{"Order": {"o-7"}, "X": {"y"}}})
	require.NoError(t, err)
	_, err = e.js.PublishMsg(ctx, &nats.Msg{Subject: e.name + ".b", Data: []byte("2")}, jetstream.WithMsgID("their-id-1"))
	require.NoError(t, err)

	src := e.source(func(c *natsconsume.Config) { c.KeyHeader = "Order" })
	ds := receive(t, src, 2)
	first, second := ds[0].Message(), ds[1].Message()
	assert.Equal(t, e.name+":1", first.ID, "no ID: <stream>:<sequence>")
	assert.Equal(t, "o-7", first.Key, "the key from Config.KeyHeader")
	assert.Equal(t, map[string]string{"Order": "o-7", "X": "y"}, first.Headers)
	assert.WithinDuration(t, before, first.PublishedAt, time.Minute, "the stream's timestamp")
	assert.Equal(t, "their-id-1", second.ID, "the Nats-Msg-Id")
	assert.Empty(t, second.Key)
	assert.Nil(t, second.Headers)
	ackAll(t, ds)
}

func TestAckedMessagesAreNotDeliveredAgain(t *testing.T) {
	for _, confirm := range []bool{true, false} {
		t.Run(fmt.Sprintf("confirmed=%v", confirm), func(t *testing.T) { testAcked(t, confirm) })
	}
}

func testAcked(t *testing.T, confirm bool) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"}, consume.Message{ID: "b"}, consume.Message{ID: "c"})
	src := e.source(func(c *natsconsume.Config) { c.AckWait = 500 * time.Millisecond; c.AckWithoutConfirm = !confirm })
	ds := receive(t, src, 3)
	assert.Equal(t, []string{"a", "b", "c"}, ids(ds))
	ackAll(t, ds)
	nothing(t, src, 1500*time.Millisecond) // three AckWaits
	info, err := e.stream.Consumer(context.Background(), e.cfg.Durable)
	require.NoError(t, err)
	ci, err := info.Info(context.Background())
	require.NoError(t, err)
	assert.Zero(t, ci.NumAckPending)
	assert.Equal(t, uint64(3), ci.AckFloor.Stream)
	err = ds[0].Ack(context.Background())
	assert.ErrorContains(t, err, "already settled")
}

func TestReleaseRedeliversAtOnceWithTheNextAttempt(t *testing.T) {
	for name, release := range map[string]func(consume.Delivery) error{
		"Release":      func(d consume.Delivery) error { return d.Release(context.Background()) },
		"Redeliver(0)": func(d consume.Delivery) error { return d.Redeliver(context.Background(), 0) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, natstest.Server(t))
			e.publish(consume.Message{ID: "a", Key: "k"})
			src := e.source(nil) // AckWait 30s: only the Release can bring it back
			d := receive(t, src, 1)[0]
			start := time.Now()
			require.NoError(t, release(d))
			again := receive(t, src, 1)[0]
			assert.Less(t, time.Since(start), 5*time.Second)
			assert.Equal(t, "a", again.Message().ID)
			assert.Equal(t, "k", again.Message().Key)
			assert.Equal(t, 2, again.Message().Attempt)
			require.NoError(t, again.Ack(context.Background()))
		})
	}
}

func TestRedeliverWaitsTheDelay(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"}, consume.Message{ID: "b"})
	src := e.source(nil)
	ds := receive(t, src, 2)
	start := time.Now()
	require.NoError(t, ds[0].Redeliver(context.Background(), 1500*time.Millisecond))
	require.NoError(t, ds[1].Ack(context.Background()))
	nothing(t, src, time.Second)
	again := receive(t, src, 1)[0]
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)
	assert.Equal(t, "a", again.Message().ID)
	assert.Equal(t, 2, again.Message().Attempt)
	require.NoError(t, again.Ack(context.Background()))
}

// TestExtendKeepsALongHandlersMessage: a handler that runs for five
// AckWaits and extends every third of one is not redelivered meanwhile;
// without Extend the same message comes back after one AckWait.
func TestExtendKeepsALongHandlersMessage(t *testing.T) {
	const ackWait = 600 * time.Millisecond
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "long"})
	src := e.source(func(c *natsconsume.Config) { c.AckWait = ackWait })
	d := receive(t, src, 1)[0]

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(ackWait / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				assert.NoError(t, d.Extend(context.Background()))
			}
		}
	})
	nothing(t, src, 5*ackWait)
	cancel()
	wg.Wait()
	require.NoError(t, d.Ack(context.Background()))
	nothing(t, src, 2*ackWait)

	// The control: the same wait without Extend redelivers.
	e.publish(consume.Message{ID: "unextended"})
	d = receive(t, src, 1)[0]
	time.Sleep(2 * ackWait)
	again := receive(t, src, 1)[0]
	assert.Equal(t, "unextended", again.Message().ID)
	assert.Equal(t, 2, again.Message().Attempt)
	require.NoError(t, again.Ack(context.Background()))
	assert.NoError(t, d.Ack(context.Background()), "a late ack of an earlier delivery is taken by the server")
}

// TestSettlingWhenTheConsumerIsGone: once the durable consumer (or its
// stream) is deleted, every way of settling a delivery fails with
// consume.ErrGone, and Receive fails for good.
func TestSettlingWhenTheConsumerIsGone(t *testing.T) {
	for _, what := range []string{"consumer", "stream"} {
		t.Run(what+" deleted", func(t *testing.T) {
			e := newEnv(t, natstest.Server(t))
			e.publish(consume.Message{ID: "a"})
			src := e.source(nil)
			d := receive(t, src, 1)[0]
			ctx := context.Background()
			if what == "consumer" {
				require.NoError(t, e.stream.DeleteConsumer(ctx, e.cfg.Durable))
			} else {
				require.NoError(t, e.js.DeleteStream(ctx, e.name))
			}
			for name, settle := range map[string]func() error{
				"Ack":       func() error { return d.Ack(ctx) },
				"Redeliver": func() error { return d.Redeliver(ctx, time.Second) },
				"Release":   func() error { return d.Release(ctx) },
				"Extend":    func() error { return d.Extend(ctx) },
			} {
				err := settle()
				assert.ErrorIs(t, err, consume.ErrGone, name)
				assert.ErrorContains(t, err, "natsconsume: ", name)
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := src.Receive(rctx, 1)
			require.Error(t, err)
			assert.NotErrorIs(t, err, context.DeadlineExceeded, "a deleted %s is not waited for", what)
		})
	}
}

// TestRestartContinuesFromTheDurable: a new Source with the same Durable
// gets what the last one left unacknowledged and what came since, never
// what it acknowledged.
func TestRestartContinuesFromTheDurable(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	cfg := func(c *natsconsume.Config) { c.AckWait = 500 * time.Millisecond }
	e.publish(consume.Message{ID: "1"}, consume.Message{ID: "2"}, consume.Message{ID: "3"}, consume.Message{ID: "4"})
	first := e.source(cfg)
	ds := receive(t, first, 4)
	ackAll(t, ds[:2])
	require.NoError(t, ds[2].Release(context.Background()))
	// ds[3] is left as a crash would leave it.
	require.NoError(t, first.Close(context.Background()))
	_, err := first.Receive(context.Background(), 1)
	assert.ErrorIs(t, err, bulwark.ErrClosed)

	e.publish(consume.Message{ID: "5"})
	second := e.source(cfg)
	var got []consume.Delivery
	for len(got) < 3 { // acked as they come, before their AckWait runs out
		d := receive(t, second, 1)
		ackAll(t, d)
		got = append(got, d...)
	}
	assert.ElementsMatch(t, []string{"3", "4", "5"}, ids(got))
	nothing(t, second, time.Second)
}

func TestReceiveBatchesUpToMaxBatch(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	for i := range 10 {
		e.publish(consume.Message{ID: string(rune('a' + i))})
	}
	src := e.source(func(c *natsconsume.Config) { c.MaxBatch = 4 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := src.Receive(ctx, 100)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d"}, ids(ds))
	more, err := src.Receive(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, []string{"e", "f", "g"}, ids(more))
	ackAll(t, append(ds, more...))
}

// TestReceiveWaitsForAMessage: Receive on an empty stream blocks across
// several FetchWaits and returns the message that comes; its ctx ending
// returns ctx's error.
func TestReceiveWaitsForAMessage(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	src := e.source(nil)
	go func() {
		time.Sleep(700 * time.Millisecond)
		e.publish(consume.Message{ID: "late"})
	}()
	start := time.Now()
	ds := receive(t, src, 1)
	assert.GreaterOrEqual(t, time.Since(start), 600*time.Millisecond)
	assert.Equal(t, []string{"late"}, ids(ds))
	ackAll(t, ds)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := src.Receive(ctx, 1)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "natsconsume: ")
}

// TestReceiveRidesOutAServerRestart: a Receive waiting while the server
// restarts keeps waiting and returns the message published after the
// restart.
func TestReceiveRidesOutAServerRestart(t *testing.T) {
	b := natstest.NewBroker(t)
	nc, err := nats.Connect(b.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, name := natstest.Stream(t, js, 0)
	src, err := natsconsume.New(js, natsconsume.Config{Stream: name, Durable: "d", FetchWait: 300 * time.Millisecond,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { t.Logf("%s %v", time.Now().Format("05.000"), e.LogValue()) })})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan []consume.Delivery)
	go func() {
		ds, err := src.Receive(ctx, 1)
		assert.NoError(t, err)
		done <- ds
	}()
	time.Sleep(500 * time.Millisecond) // Receive is waiting
	b.Restart(time.Second)
	for {
		msg, err := natsconsume.Encode(consume.Message{ID: "after", Topic: name})
		require.NoError(t, err)
		if _, err = js.PublishMsg(ctx, msg); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ds := <-done
	require.Len(t, ds, 1)
	assert.Equal(t, "after", ds[0].Message().ID)
	require.NoError(t, ds[0].Ack(ctx))
}

// TestReceiveReportsWhatItRidesOut: on a server without JetStream (as one
// is for a moment while it starts), Receive keeps trying, reporting each
// failure with a growing delay, until its ctx ends.
func TestReceiveReportsWhatItRidesOut(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(10*time.Second))
	_, js := natstest.Connect(t, ns.ClientURL())
	var mu sync.Mutex
	var events []natsconsume.FetchFailed
	src, err := natsconsume.New(js, natsconsume.Config{Stream: "S", Durable: "d", Name: "orders",
		Observer: bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev.(natsconsume.FetchFailed))
		})})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err = src.Receive(ctx, 1)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(events), 2)
	for i, ev := range events {
		assert.Equal(t, "natsconsume.fetch_failed", ev.Kind())
		assert.Equal(t, "orders", ev.Component())
		assert.ErrorIs(t, ev.Err, nats.ErrNoResponders)
		assert.Equal(t, i+1, ev.Failures)
		assert.LessOrEqual(t, ev.Delay, 50*time.Millisecond<<i)
	}
}

// TestACancelledReceiveLeavesNoRequestBehind: a Receive whose ctx ends
// while its pull request waits returns when the request ends on the server
// (FetchWait), with a message that came meanwhile; without one, with ctx's
// error, and a message published afterwards goes to the next Source at
// once, as a first delivery, not into a subscription nobody reads.
func TestACancelledReceiveLeavesNoRequestBehind(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	first := e.source(func(c *natsconsume.Config) { c.FetchWait = time.Second }) // AckWait 30s
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	time.AfterFunc(500*time.Millisecond, func() { e.publish(consume.Message{ID: "meanwhile"}) })
	ds, err := first.Receive(ctx, 1)
	require.NoError(t, err, "the message the request brought after ctx ended")
	assert.Equal(t, []string{"meanwhile"}, ids(ds))
	ackAll(t, ds)

	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = first.Receive(ctx, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond, "returned when the request ended")
	require.NoError(t, first.Close(context.Background()))
	e.publish(consume.Message{ID: "after"})

	start = time.Now()
	second := e.source(nil)
	d := receive(t, second, 1)[0]
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.Equal(t, "after", d.Message().ID)
	assert.Equal(t, 1, d.Message().Attempt, "never delivered to the first Source")
	require.NoError(t, d.Ack(context.Background()))
}

// TestCancelRacingADeliveryLosesNothing: Receives cancelled around the
// moment the server sends a message into their pull request, again and
// again; every message is received promptly afterwards (one the server
// sent before it saw the unsubscription is read while draining and
// released, not left to its AckWait of 30s).
func TestCancelRacingADeliveryLosesNothing(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	src := e.source(nil)
	for i := range 30 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan []consume.Delivery)
		go func() {
			ds, _ := src.Receive(ctx, 1)
			done <- ds
		}()
		time.Sleep(20 * time.Millisecond)
		id := fmt.Sprint("m", i)
		go e.publish(consume.Message{ID: id})
		time.Sleep(time.Duration(i%6) * 100 * time.Microsecond)
		cancel()
		ds := <-done
		if len(ds) == 0 {
			start := time.Now()
			ds = receive(t, src, 1)
			assert.Less(t, time.Since(start), 5*time.Second, "message %s waited for its AckWait", id)
		}
		require.Len(t, ds, 1)
		assert.Equal(t, id, ds[0].Message().ID)
		require.NoError(t, ds[0].Ack(context.Background()))
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Server(t))
	ok := natsconsume.Config{Stream: "S", Durable: "d"}
	for _, tt := range []struct {
		change func(*natsconsume.Config)
		want   string
	}{
		{func(c *natsconsume.Config) { c.Stream = "" }, "natsconsume: Config.Stream is required"},
		{func(c *natsconsume.Config) { c.Stream = "a.b" }, `natsconsume: Config.Stream "a.b" holds '.'`},
		{func(c *natsconsume.Config) { c.Durable = "" }, "natsconsume: Config.Durable is required"},
		{func(c *natsconsume.Config) { c.Durable = "x y" }, `Config.Durable "x y" holds ' '`},
		{func(c *natsconsume.Config) { c.FilterSubjects = []string{"a.>", "a..b"} }, `Config.FilterSubjects[1] "a..b" has an empty token`},
		{func(c *natsconsume.Config) { c.FilterSubjects = []string{">.a"} }, `has ">" before its last token`},
		{func(c *natsconsume.Config) { c.AckWait = time.Millisecond }, "natsconsume: Config.AckWait must be 0 (meaning 30s) or in [100ms, 24h0m0s], got 1ms"},
		{func(c *natsconsume.Config) { c.AckWait = -time.Second }, "Config.AckWait must be"},
		{func(c *natsconsume.Config) { c.FetchWait = time.Hour }, "natsconsume: Config.FetchWait must be 0 (meaning 1s) or in [100ms, 1m0s], got 1h0m0s"},
		{func(c *natsconsume.Config) { c.AckTimeout = time.Nanosecond }, "Config.AckTimeout must be 0 (meaning 5s) or in [10ms, 5m0s]"},
		{func(c *natsconsume.Config) { c.MaxAckPending = -2 }, "natsconsume: Config.MaxAckPending must be 0 (meaning 1000), natsconsume.Unlimited or in [1, 1e6], got -2"},
		{func(c *natsconsume.Config) { c.MaxAckPending = 1e6 + 1 }, "Config.MaxAckPending must be"},
		{func(c *natsconsume.Config) { c.MaxBatch = 10001 }, "natsconsume: Config.MaxBatch must be 0 (meaning 100) or in [1, 10000], got 10001"},
		{func(c *natsconsume.Config) { c.KeyHeader = "a:b" }, `natsconsume: Config.KeyHeader "a:b" is not a header name`},
	} {
		cfg := ok
		tt.change(&cfg)
		_, err := natsconsume.New(js, cfg)
		assert.ErrorContains(t, err, tt.want)
	}
	_, err := natsconsume.New(nil, ok)
	assert.EqualError(t, err, "natsconsume: New: js must not be nil")
	for _, cfg := range []natsconsume.Config{ok, {Stream: "S", Durable: "d", MaxAckPending: natsconsume.Unlimited, AckWait: 100 * time.Millisecond, MaxBatch: 10000}} {
		_, err := natsconsume.New(js, cfg)
		assert.NoError(t, err)
	}
}

func TestZeroValuesPanic(t *testing.T) {
	assert.PanicsWithValue(t, "natsconsume: Source used without New", func() {
		_, _ = new(natsconsume.Source).Receive(context.Background(), 1)
	})
	assert.PanicsWithValue(t, "natsconsume: DeadLetters used without NewDeadLetters", func() {
		_, _ = new(natsconsume.DeadLetters).List(context.Background(), 1, 1)
	})
}

func TestDefaultConfigIsTheZeroConfig(t *testing.T) {
	d := natsconsume.DefaultConfig()
	assert.Equal(t, natsconsume.DefaultAckWait, d.AckWait)
	assert.Equal(t, natsconsume.DefaultMaxAckPending, d.MaxAckPending)
	assert.Equal(t, natsconsume.DefaultMaxBatch, d.MaxBatch)
	assert.Equal(t, natsconsume.DefaultFetchWait, d.FetchWait)
	assert.Equal(t, natsconsume.DefaultAckTimeout, d.AckTimeout)
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "x"})
	ackAll(t, receive(t, e.source(func(c *natsconsume.Config) { *c = natsconsume.Config{Stream: c.Stream, Durable: c.Durable} }), 1))
	cons, err := e.stream.Consumer(context.Background(), e.cfg.Durable)
	require.NoError(t, err)
	ci := cons.CachedInfo()
	assert.Equal(t, jetstream.AckExplicitPolicy, ci.Config.AckPolicy)
	assert.Equal(t, jetstream.DeliverAllPolicy, ci.Config.DeliverPolicy)
	assert.Equal(t, d.AckWait, ci.Config.AckWait)
	assert.Equal(t, d.MaxAckPending, ci.Config.MaxAckPending)
	assert.Equal(t, -1, ci.Config.MaxDeliver, "the Consumer decides when to give up, not the server")
	assert.Equal(t, e.cfg.Durable, ci.Config.Durable)
}

func TestFilterSubjects(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	for _, sub := range []string{"a", "b", "c.x", "c.y"} {
		e.publish(consume.Message{ID: sub, Topic: e.name + "." + sub})
	}
	src := e.source(func(c *natsconsume.Config) { c.FilterSubjects = []string{e.name + ".a", e.name + ".c.>"} })
	ds := receive(t, src, 3)
	assert.Equal(t, []string{"a", "c.x", "c.y"}, ids(ds))
	ackAll(t, ds)
	nothing(t, src, 500*time.Millisecond)

	one := e.source(func(c *natsconsume.Config) { c.Durable = "only_b"; c.FilterSubjects = []string{e.name + ".b"} })
	ds = receive(t, one, 1)
	assert.Equal(t, []string{"b"}, ids(ds))
	ackAll(t, ds)
	nothing(t, one, 500*time.Millisecond)
}

// TestRedeliverCountsTowardsMaxAckPending: a message waiting for its
// delayed redelivery still takes a place of MaxAckPending.
func TestRedeliverCountsTowardsMaxAckPending(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"}, consume.Message{ID: "b"})
	src := e.source(func(c *natsconsume.Config) { c.MaxAckPending = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := src.Receive(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, ids(d), "MaxAckPending 1")
	require.NoError(t, d[0].Redeliver(context.Background(), 2*time.Second))
	nothing(t, src, time.Second)
	d = receive(t, src, 1)
	assert.Equal(t, []string{"a"}, ids(d), "the redelivery comes first")
	ackAll(t, d)
	ackAll(t, receive(t, src, 1))
}

// TestDecodeReadsDamagedHeadersAsFarAsItCan: a value listed as base64 that
// is not, and a creation time that is not one, are kept as sent and
// replaced by the stream's timestamp; the message is still delivered.
func TestDecodeReadsDamagedHeadersAsFarAsItCan(t *testing.T) {
	stored := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	meta := &jetstream.MsgMetadata{Stream: "S", NumDelivered: 1, Timestamp: stored}
	meta.Sequence.Stream = 4
	m := natsconsume.Decode(meta, "s", nats.Header{
		natsoutbox.KeyHeader:       {"%%%"},
		natsoutbox.EncodedHeader:   {natsoutbox.KeyHeader, "h"},
		natsoutbox.CreatedAtHeader: {"yesterday"},
		natsconsume.HeadersHeader:  {"[{"},
		"h":                        {"aGk="},
	}, []byte("x"), "")
	assert.Equal(t, "S:4", m.ID)
	assert.Equal(t, "%%%", m.Key)
	assert.Equal(t, stored, m.PublishedAt)
	assert.Equal(t, map[string]string{"h": "hi"}, m.Headers)
	assert.Equal(t, []byte("x"), m.Payload)
}

// TestAckTimeoutBoundsAnUnansweredAck: an acknowledgement the server does
// not answer (here: for a consumer deleted and made again under the same
// name, which has not delivered that sequence) fails after AckTimeout when
// its ctx has no deadline, with an error that is not ErrGone, and may be
// tried again.
func TestAckTimeoutBoundsAnUnansweredAck(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"})
	src := e.source(func(c *natsconsume.Config) { c.AckTimeout = 300 * time.Millisecond })
	d := receive(t, src, 1)[0]
	ctx := context.Background()
	require.NoError(t, e.stream.DeleteConsumer(ctx, e.cfg.Durable))
	_, err := e.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: e.cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "nothing.here"})
	require.NoError(t, err)

	start := time.Now()
	err = d.Ack(ctx)
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.NotErrorIs(t, err, consume.ErrGone)
	assert.ErrorIs(t, err, nats.ErrTimeout)
	assert.ErrorContains(t, err, "natsconsume: acknowledging a: no answer from the server within Config.AckTimeout (300ms)")
	assert.GreaterOrEqual(t, elapsed, 300*time.Millisecond)
	assert.Less(t, elapsed, 3*time.Second)
	assert.NotContains(t, d.Ack(ctx).Error(), "already settled", "a failed Ack may be tried again")
}

// TestReceiveWaitsOnItsClock: the waits between failed fetches are timed
// by Config.Clock: on a fake clock Receive tries again only when the clock
// has moved on by the reported delay.
func TestReceiveWaitsOnItsClock(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	require.True(t, ns.ReadyForConnections(10*time.Second))
	_, js := natstest.Connect(t, ns.ClientURL())
	fake := clocktest.New(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	events := make(chan natsconsume.FetchFailed, 10)
	src, err := natsconsume.New(js, natsconsume.Config{Stream: "S", Durable: "d", Clock: fake,
		Observer: bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) { events <- ev.(natsconsume.FetchFailed) })})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := src.Receive(ctx, 1)
		done <- err
	}()
	for want := 1; want <= 3; want++ {
		ev := <-events
		assert.Equal(t, want, ev.Failures)
		fake.BlockUntil(1) // Receive waits on the fake clock
		select {
		case ev := <-events:
			t.Fatalf("tried again before the clock moved: %+v", ev)
		case <-time.After(100 * time.Millisecond):
		}
		fake.Advance(ev.Delay)
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// TestWaitOutLeasesKeepsKeyOrderAcrossACrash: a process that crashed
// holding the first message of a key leaves it unacknowledged; the next
// message of the key was never delivered. A new Source hands out the
// second one first, unless WaitOutLeases, with which the first comes back
// first, after its AckWait.
func TestWaitOutLeasesKeepsKeyOrderAcrossACrash(t *testing.T) {
	const ackWait = 500 * time.Millisecond
	for _, wait := range []bool{false, true} {
		t.Run(fmt.Sprintf("WaitOutLeases=%v", wait), func(t *testing.T) {
			e := newEnv(t, natstest.Server(t))
			cfg := func(c *natsconsume.Config) { c.AckWait = ackWait; c.WaitOutLeases = wait }
			e.publish(consume.Message{ID: "first", Key: "k"})
			crashed := e.source(cfg)
			held := receive(t, crashed, 1)
			require.Equal(t, []string{"first"}, ids(held)) // never settled: the process is gone
			e.publish(consume.Message{ID: "second", Key: "k"})

			start := time.Now()
			next := e.source(cfg)
			got := receive(t, next, 1)
			if !wait {
				assert.Equal(t, []string{"second"}, ids(got), "JetStream hands out the undelivered message first")
				return
			}
			assert.GreaterOrEqual(t, time.Since(start), ackWait)
			require.Equal(t, []string{"first"}, ids(got), "the held message comes back first")
			assert.Equal(t, 2, got[0].Message().Attempt)
			ackAll(t, got)
			got = receive(t, next, 1)
			assert.Equal(t, []string{"second"}, ids(got))
			ackAll(t, got)
		})
	}
}

// TestWaitOutLeasesStartsAtOnceWhenNothingIsHeld: with nothing delivered
// and unacknowledged, WaitOutLeases does not wait.
func TestWaitOutLeasesStartsAtOnceWhenNothingIsHeld(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"})
	start := time.Now()
	src := e.source(func(c *natsconsume.Config) { c.AckWait = 5 * time.Second; c.WaitOutLeases = true })
	ackAll(t, receive(t, src, 1))
	assert.Less(t, time.Since(start), 3*time.Second)
}

// TestWaitOutLeasesReturnsHeldMessagesInStreamOrder: the crashed process
// extended the first message of a key (it was running) later than the
// second (waiting behind it), so the server redelivers the second first;
// the new Source returns them in stream order.
func TestWaitOutLeasesReturnsHeldMessagesInStreamOrder(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	cfg := func(c *natsconsume.Config) { c.AckWait = time.Second; c.WaitOutLeases = true }
	e.publish(consume.Message{ID: "first", Key: "k"}, consume.Message{ID: "second", Key: "k"}, consume.Message{ID: "third", Key: "k"})
	crashed := e.source(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	held, err := crashed.Receive(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"first", "second"}, ids(held))
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, held[0].Extend(ctx)) // its lease now runs out half a second after the second's

	next := e.source(cfg)
	got, err := next.Receive(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"first", "second"}, ids(got), "the held messages, in stream order")
	ackAll(t, got)
	got = receive(t, next, 1)
	assert.Equal(t, []string{"third"}, ids(got))
	ackAll(t, got)
}
