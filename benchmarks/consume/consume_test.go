// Package consume measures how many messages per second a consumer takes
// from a NATS JetStream stream, runs a handler on and acknowledges: bulwark's
// consume.Consumer over natsconsume, watermill's Router with its Retry and
// PoisonQueue middleware over watermill-nats's JetStream subscriber, and a
// hand-written nats.go jetstream loop, in the same run on the same server
// with the same stream content.
//
// Two handlers: one that does nothing (what the consumers themselves cost)
// and one that records each message in pgidempotency's Inbox and inserts
// one row in the inbox's transaction (BULWARK_POSTGRES_DSN; skipped without
// it unless BULWARK_REQUIRE_SERVICES is set).
//
// Each operation publishes messagesPerOp messages over 100 keys with the
// timer stopped, then starts the consumer and stops the clock once every
// message was handled and the server counts none of them pending or
// unacknowledged (so acknowledgements the client sent but the server has
// not processed yet are waited for). The figures to read are msg/s and
// allocs/msg; sec/op is the time of one operation of messagesPerOp
// messages. bulwark's Consumer and the loops are started in the timed part,
// against a durable consumer that already exists; watermill's Router is
// started untimed with its consumer paused, and the timed part resumes it
// (see watermillImpl).
//
// The server is an embedded nats-server in a child process (see
// natsURL), so the allocations and a -cpuprofile count the consumer's
// process only. cpu-µs/msg is the CPU time the benchmark's process used per
// message while timed (the consumer, its NATS client and, for the inbox,
// pgx), server-cpu-µs/msg the nats-server process's: on a shared machine
// they move less than msg/s does.
package consume

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgidempotency"
	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	keys = 100
	// concurrency is how many handlers run at once in every consumer
	// that runs them concurrently: bulwark's Config.Concurrency default,
	// watermill's SubscribersCount, the loop's workers for the inbox.
	concurrency = 16
	// batch is how many messages one pull asks for: natsconsume's
	// MaxBatch default and the loop's Fetch (watermill-nats's subscriber
	// is push-based: the server pushes up to MaxAckPending).
	batch = 100
	// maxAckPending is the JetStream consumers' MaxAckPending (the
	// server's and natsconsume's default).
	maxAckPending = 1000
)

var payload = []byte(`{"order_id":"7f9c2ba4-e88f-11ea-adc1-0242ac120002","total":4200,"currency":"EUR","lines":3}`)

// work is what a handler does with one message, the same in every consumer.
type work struct {
	name string
	n    int // messages per operation
	// setup prepares the work for one sub-benchmark and returns the
	// handler body, or nil to do nothing.
	setup func(tb testing.TB) *inboxWork
}

// inboxWork records a message in the inbox and inserts its row, in one
// transaction.
type inboxWork struct {
	in *pgidempotency.Inbox
}

func (w *inboxWork) insert(ctx context.Context, tx pgx.Tx, id, key string, p []byte) error {
	_, err := tx.Exec(ctx, "INSERT INTO effects (id, key, payload) VALUES ($1, $2, $3)", id, key, p)
	return err
}

func (w *inboxWork) handle(ctx context.Context, id, key string, p []byte) error {
	_, err := w.in.Process(ctx, id, func(ctx context.Context, tx pgx.Tx) error { return w.insert(ctx, tx, id, key, p) })
	return err
}

var (
	emptyWork = work{name: "empty", n: 20000, setup: func(testing.TB) *inboxWork { return nil }}
	pgWork    = work{name: "pginbox", n: 3000, setup: setupInbox}
)

func setupInbox(b testing.TB) *inboxWork {
	pool, _ := benchpg.Pool(b, func(c *pgxpool.Config) { c.MaxConns = concurrency })
	ctx := context.Background()
	store, err := pgidempotency.New(pool, pgidempotency.Config{})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE TABLE effects (id text PRIMARY KEY, key text NOT NULL, payload bytea NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	in, err := pgidempotency.NewInbox(store, pgidempotency.InboxConfig{Consumer: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return &inboxWork{in: in}
}

// env is one sub-benchmark's stream, dead-letter stream and work.
type env struct {
	url     string
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	name    string // stream name
	subject string // where the messages are published
	dlName  string // dead-letter stream name
	inbox   *inboxWork
	counter *counter
	// receives counts the Consumer's Receive calls that returned
	// messages (bulwark only), in the timed part.
	receives atomic.Int64
}

// countingSource counts the Receive calls that return messages.
type countingSource struct {
	consume.Source
	n *atomic.Int64
}

func (s countingSource) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	ds, err := s.Source.Receive(ctx, max)
	if len(ds) > 0 {
		s.n.Add(1)
	}
	return ds, err
}

// counter counts handled messages and closes done at the target.
type counter struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (c *counter) reset(target int) {
	c.n.Store(0)
	c.target = int64(target)
	c.done = make(chan struct{})
}

func (c *counter) add() {
	if c.n.Add(1) == c.target {
		close(c.done)
	}
}

// handle runs the work on one message and counts it.
func (e *env) handle(ctx context.Context, id, key string, p []byte) error {
	if e.inbox != nil {
		if err := e.inbox.handle(ctx, id, key, p); err != nil {
			return err
		}
	}
	e.counter.add()
	return nil
}

func newEnv(b testing.TB, w work) *env {
	e := &env{url: natsURL(b), counter: &counter{}}
	e.nc, e.js = natstest.Connect(b, e.url)
	var prefix string
	e.stream, prefix = natstest.Stream(b, e.js, 0)
	e.name = prefix
	e.subject = prefix + ".orders"
	_, e.dlName = natstest.Stream(b, e.js, 0)
	e.inbox = w.setup(b)
	return e
}

// publish puts n messages on the stream as natsoutbox does (Nats-Msg-Id,
// natsoutbox.KeyHeader, natsoutbox.CreatedAtHeader), over `keys` keys,
// with the ID also in watermill's UUID header so that watermill's
// unmarshaler finds it as message.UUID.
func (e *env) publish(b testing.TB, n int) {
	ctx := context.Background()
	if err := e.stream.Purge(ctx); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := e.js.PublishMsgAsync(e.message(i)); err != nil {
			b.Fatal(err)
		}
		if (i+1)%500 == 0 || i == n-1 {
			// Wait for the acks in rounds, well under nats.go's limit of
			// outstanding async publishes, which a busy machine reaches.
			select {
			case <-e.js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publishing took over a minute")
			}
		}
	}
}

func (e *env) message(i int) *nats.Msg {
	id := uuid.Must(uuid.NewV7()).String()
	h := nats.Header{
		jetstream.MsgIDHeader:      {id},
		natsoutbox.KeyHeader:       {"order-" + strconv.Itoa(i%keys)},
		natsoutbox.CreatedAtHeader: {time.Now().UTC().Format(time.RFC3339Nano)},
		wmnats.WatermillUUIDHdr:    {id},
	}
	return &nats.Msg{Subject: e.subject, Header: h, Data: payload}
}

// kick publishes one more message without waiting for its acknowledgement.
func (e *env) kick(b testing.TB) {
	if _, err := e.js.PublishMsgAsync(e.message(0)); err != nil {
		b.Error(err)
	}
}

// acked waits until the server counts no message of the consumer named
// durable pending or unacknowledged.
func (e *env) acked(b testing.TB, durable string) {
	ctx := context.Background()
	var info func(context.Context) (*jetstream.ConsumerInfo, error)
	if cons, err := e.stream.Consumer(ctx, durable); err == nil {
		info = cons.Info
	} else if cons, perr := e.stream.PushConsumer(ctx, durable); perr == nil {
		info = cons.Info // watermill-nats's consumer is a push consumer
	} else {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ci, err := info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if ci.NumPending == 0 && ci.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("consumer %s: %d pending, %d unacknowledged after a minute", durable, ci.NumPending, ci.NumAckPending)
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// impl is one consumer. prepare runs with the timer stopped and returns
// start, timed, which starts consuming without blocking, and stop,
// untimed, which stops it.
type impl struct {
	name    string
	durable string
	// init runs once per sub-benchmark.
	init    func(b testing.TB, e *env)
	prepare func(b testing.TB, e *env) (start, stop func())
}

func run(b *testing.B, w work, impls []impl) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			e := newEnv(b, w)
			if im.init != nil {
				im.init(b, e)
			}
			var elapsed, cpu, srv time.Duration
			var receives int64
			var mallocs, bytes uint64
			var before, after runtime.MemStats
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				e.publish(b, w.n)
				e.counter.reset(w.n)
				receives0 := e.receives.Load()
				start, stop := im.prepare(b, e)
				runtime.ReadMemStats(&before)
				cpu0, srv0 := processCPU(b), serverCPU(b)
				b.StartTimer()
				t0 := time.Now()
				start()
				<-e.counter.done
				e.acked(b, im.durable)
				elapsed += time.Since(t0)
				receives += e.receives.Load() - receives0
				b.StopTimer()
				cpu += processCPU(b) - cpu0
				srv += serverCPU(b) - srv0
				runtime.ReadMemStats(&after)
				mallocs += after.Mallocs - before.Mallocs
				bytes += after.TotalAlloc - before.TotalAlloc
				stop()
				b.StartTimer()
			}
			msgs := float64(w.n * b.N)
			b.ReportMetric(msgs/elapsed.Seconds(), "msg/s")
			b.ReportMetric(float64(mallocs)/msgs, "allocs/msg")
			b.ReportMetric(float64(bytes)/msgs, "B/msg")
			b.ReportMetric(float64(cpu.Microseconds())/msgs, "cpu-µs/msg")
			b.ReportMetric(float64(srv.Microseconds())/msgs, "server-cpu-µs/msg")
			if receives > 0 {
				b.ReportMetric(msgs/float64(receives), "msg/receive")
			}
		})
	}
}

// impls returns the consumers measured with w: the loop handles the
// empty handler's messages one at a time, the inbox's 16 at once.
func impls(w work) []impl {
	loopWorkers := 1
	if w.name != emptyWork.name {
		loopWorkers = concurrency
	}
	return []impl{
		bulwarkImpl(false), bulwarkImpl(true), watermillImpl(false), watermillImpl(true),
		loopImpl("loop", loopWorkers, false), loopImpl("loop-doubleack", concurrency, true),
	}
}

// BenchmarkEmptyHandler: messages/s through a handler that does nothing.
func BenchmarkEmptyHandler(b *testing.B) { run(b, emptyWork, impls(emptyWork)) }

// BenchmarkInboxHandler: messages/s through a handler that records the
// message in pgidempotency's Inbox and inserts one row in its transaction.
func BenchmarkInboxHandler(b *testing.B) { run(b, pgWork, impls(pgWork)) }

// bulwarkImpl is consume.New over natsconsume as a user would configure it:
// the defaults (16 handlers, 256 messages held, pulls of up to 100, 3
// in-place retries from 10ms, confirmed acks) with dead letters after the
// 5th delivery into a natsconsume dead-letter stream. The inbox handler is
// consume.InboxHandler over the same pgidempotency.Inbox. unconfirmed
// ("bulwark-unconfirmed") sets natsconsume's AckWithoutConfirm: Ack
// publishes the acknowledgement without waiting for the server's answer,
// as the loop's Ack does.
func bulwarkImpl(unconfirmed bool) impl {
	name := "bulwark"
	if unconfirmed {
		name = "bulwark-unconfirmed"
	}
	return consumeImpl(name, func(b testing.TB, e *env, durable string) consume.Source {
		src, err := natsconsume.New(e.js, natsconsume.Config{Stream: e.name, Durable: durable, AckWithoutConfirm: unconfirmed})
		if err != nil {
			b.Fatal(err)
		}
		return src
	})
}

func consumeImpl(name string, source func(b testing.TB, e *env, durable string) consume.Source) impl {
	durable := name
	return impl{
		name:    name,
		durable: durable,
		init:    func(b testing.TB, e *env) { createConsumer(b, e, durable) },
		prepare: func(b testing.TB, e *env) (func(), func()) {
			src := countingSource{source(b, e, durable), &e.receives}
			dl, err := natsconsume.NewDeadLetters(e.js, natsconsume.DeadLetterConfig{Stream: e.dlName, Subject: e.dlName + ".dead"})
			if err != nil {
				b.Fatal(err)
			}
			var h consume.Handler = consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
				e.counter.add()
				return nil
			})
			if e.inbox != nil {
				inner := consume.InboxHandler(e.inbox.in, func(ctx context.Context, tx pgx.Tx, m *consume.Message) error {
					return e.inbox.insert(ctx, tx, m.ID, m.Key, m.Payload)
				})
				h = consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
					if err := inner.Handle(ctx, m); err != nil {
						return err
					}
					e.counter.add()
					return nil
				})
			}
			c, err := consume.New(src, h, consume.Config{
				InPlaceAttempts: 3,
				InPlaceBackoff:  retry.Exponential{Initial: 10 * time.Millisecond},
				MaxAttempts:     5,
				DeadLetters:     dl,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			return func() { go func() { done <- c.Run(ctx) }() },
				func() {
					if err := c.Close(context.Background()); err != nil {
						b.Fatal(err)
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
					cancel()
				}
		},
	}
}

// createConsumer creates the durable pull consumer a pull-based
// implementation uses, as natsconsume would (explicit acks, every message,
// MaxAckPending 1000), so that its creation is not timed.
func createConsumer(b testing.TB, e *env, durable string) {
	_, err := e.js.CreateOrUpdateConsumer(context.Background(), e.name, jetstream.ConsumerConfig{
		Durable:       durable,
		Description:   "bulwark natsconsume",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       natsconsume.DefaultAckWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		b.Fatal(err)
	}
}

// watermillImpl is watermill's Router with its Retry middleware (3 retries
// from 10ms, doubling, capped at 100ms, as bulwark's in-place retries) inside
// its PoisonQueue middleware (publishing to the dead-letter stream), over
// watermill-nats's JetStream subscriber (pkg/nats with JetStream on, which
// watermill-nats recommends for production over its beta pkg/jetstream):
// a durable push consumer with a queue group and 16 subscriptions (so 16
// handlers at once, as bulwark's 16), every message (DeliverAll), explicit
// acks sent by watermill after the handler returned (ManualAck, so nats.go
// does not ack on its own), confirmed by the server (AckAsync false, as
// natsconsume's acks; with ackAsync, "watermill-ackasync", not confirmed, as
// natsconsume's AckWithoutConfirm), MaxAckPending 1000 and AckWait 30s (as
// natsconsume's defaults). Its logger is watermill.NopLogger. The durable
// consumer is made once, untimed; the subscriber connects and the Router
// starts its subscriptions with the timer stopped and the consumer paused,
// which the timed part resumes (see prepare).
func watermillImpl(ackAsync bool) impl {
	durable := "watermill"
	if ackAsync {
		durable = "watermill-ackasync"
	}
	logger := watermill.NopLogger{}
	jsConfig := func(e *env) wmnats.JetStreamConfig {
		return wmnats.JetStreamConfig{
			SubscribeOptions: []nats.SubOpt{
				nats.BindStream(e.name), nats.DeliverAll(), nats.AckExplicit(), nats.ManualAck(),
				nats.MaxAckPending(maxAckPending), nats.AckWait(30 * time.Second),
			},
			DurablePrefix: durable,
			AckAsync:      ackAsync,
		}
	}
	var poison message.HandlerMiddleware
	return impl{
		name:    durable,
		durable: durable,
		init: func(b testing.TB, e *env) {
			pub, err := wmnats.NewPublisher(wmnats.PublisherConfig{
				URL: e.url, Marshaler: &wmnats.NATSMarshaler{}, JetStream: jsConfig(e),
			}, logger)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = pub.Close() })
			if poison, err = middleware.PoisonQueue(pub, e.dlName+".poison"); err != nil {
				b.Fatal(err)
			}
			// The durable push consumer, made here so that the
			// subscriptions bind to it (and leave it on Close) instead of
			// creating it: the settings the subscribe options ask for.
			_, err = e.js.CreateOrUpdatePushConsumer(context.Background(), e.name, jetstream.ConsumerConfig{
				Durable:        durable,
				DeliverSubject: nats.NewInbox(),
				DeliverGroup:   durable,
				DeliverPolicy:  jetstream.DeliverAllPolicy,
				AckPolicy:      jetstream.AckExplicitPolicy,
				AckWait:        30 * time.Second,
				MaxAckPending:  maxAckPending,
				FilterSubject:  e.subject,
			})
			if err != nil {
				b.Fatal(err)
			}
		},
		prepare: func(b testing.TB, e *env) (func(), func()) {
			sub, err := wmnats.NewSubscriber(wmnats.SubscriberConfig{
				URL:              e.url,
				QueueGroupPrefix: durable,
				SubscribersCount: concurrency,
				AckWaitTimeout:   30 * time.Second,
				CloseTimeout:     30 * time.Second,
				Unmarshaler:      &wmnats.NATSMarshaler{},
				JetStream:        jsConfig(e),
			}, logger)
			if err != nil {
				b.Fatal(err)
			}
			router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, logger)
			if err != nil {
				b.Fatal(err)
			}
			router.AddMiddleware(poison, middleware.Retry{
				MaxRetries:      3,
				InitialInterval: 10 * time.Millisecond,
				MaxInterval:     100 * time.Millisecond,
				Multiplier:      2,
				Logger:          logger,
			}.Middleware)
			router.AddConsumerHandler("bench", e.subject, sub, func(m *message.Message) error {
				return e.handle(m.Context(), m.UUID, m.Metadata.Get(natsoutbox.KeyHeader), m.Payload)
			})
			// The Router subscribes its 16 subscriptions one after the
			// other; a push consumer delivers from the first on, so with a
			// backlog the first subscription would be handed up to
			// MaxAckPending messages to handle one at a time while the
			// others join. The consumer is paused until all are there.
			ctx := context.Background()
			if _, err := e.js.PauseConsumer(ctx, e.name, durable, time.Now().Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- router.Run(ctx) }()
			select {
			case <-router.Running():
			case err := <-done:
				b.Fatal(err)
			}
			return func() {
					if _, err := e.js.ResumeConsumer(ctx, e.name, durable); err != nil {
						b.Error(err)
					}
					// nats-server 2.15 does not start pushing the backlog
					// of a resumed push consumer until a message arrives:
					// one more message (handled and counted like the
					// others, 1 in messagesPerOp) sets it going.
					e.kick(b)
				},
				func() {
					if err := router.Close(); err != nil {
						b.Fatal(err)
					}
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
		},
	}
}

// loopImpl is the loop a user would write with nats.go's jetstream package:
// Fetch up to 100 messages (waiting at most 1s), handle each, Ack it
// (fire-and-forget; with doubleAck DoubleAck, which waits for the server to
// confirm, as natsconsume's and watermill's acks do). With workers 1 the
// messages are handled one at a time in the loop; with more, each on a
// goroutine of its own, at most workers at once, the loop fetching on
// meanwhile. It keeps no per-key order, retries nothing and dead-letters
// nothing.
func loopImpl(name string, workers int, doubleAck bool) impl {
	durable := name
	return impl{
		name:    name,
		durable: durable,
		init:    func(b testing.TB, e *env) { createConsumer(b, e, durable) },
		prepare: func(b testing.TB, e *env) (func(), func()) {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var failed atomic.Pointer[error]
			fail := func(err error) {
				if ctx.Err() == nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
			handle := func(msg jetstream.Msg) {
				h := msg.Headers()
				if err := e.handle(ctx, h.Get(jetstream.MsgIDHeader), h.Get(natsoutbox.KeyHeader), msg.Data()); err != nil {
					fail(err)
					_ = msg.Nak()
					return
				}
				var err error
				if doubleAck {
					err = msg.DoubleAck(ctx)
				} else {
					err = msg.Ack()
				}
				if err != nil {
					fail(err)
				}
			}
			loop := func() {
				cons, err := e.js.Consumer(ctx, e.name, durable)
				if err != nil {
					fail(err)
					return
				}
				sem := make(chan struct{}, workers)
				for ctx.Err() == nil {
					msgs, err := cons.Fetch(batch, jetstream.FetchMaxWait(time.Second))
					if err != nil {
						fail(err)
						return
					}
					for msg := range msgs.Messages() {
						if workers == 1 {
							handle(msg)
							continue
						}
						sem <- struct{}{}
						wg.Go(func() {
							handle(msg)
							<-sem
						})
					}
					if err := msgs.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
						fail(err)
						return
					}
				}
			}
			return func() { wg.Go(loop) },
				func() {
					cancel()
					wg.Wait()
					if err := failed.Load(); err != nil {
						b.Fatal(*err)
					}
				}
		},
	}
}
