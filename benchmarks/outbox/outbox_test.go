// Package outbox measures the outbox relay moving messages from PostgreSQL
// to an in-memory publisher, beside watermill-sql's subscriber moving the
// same messages from the same database in the same run, and the relay's
// commit-to-publish latency at a steady rate.
//
// It needs BULWARK_POSTGRES_DSN; each benchmark works in a schema of its own.
package outbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgoutbox"
	"github.com/bulwark-go/bulwark/benchmarks/internal/benchpg"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const keys = 100

// messagesPerOp is how many messages one benchmark operation moves, per
// batch size: enough batches to reach a steady state, few enough to finish
// in seconds at watermill's pace.
var messagesPerOp = map[int]int{1: 1000, 100: 20000, 1000: 50000}

var payload = []byte(`{"order_id":"7f9c2ba4-e88f-11ea-adc1-0242ac120002","total":4200,"currency":"EUR","lines":3}`)

func newStore(b *testing.B, pool *pgxpool.Pool, channel string) *pgoutbox.Store {
	b.Helper()
	s, err := pgoutbox.New(pool, pgoutbox.Config{Channel: channel})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

// fillBulwark writes n messages over `keys` keys with COPY.
func fillBulwark(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	now := time.Now()
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{uuid.Must(uuid.NewV7()), "orders", fmt.Sprint("order-", i%keys), payload, now}
	}
	_, err := pool.CopyFrom(context.Background(), pgx.Identifier{"outbox_messages"},
		[]string{"id", "topic", "key", "payload", "created_at"}, pgx.CopyFromRows(rows))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), "VACUUM ANALYZE outbox_messages"); err != nil {
		b.Fatal(err)
	}
}

// sink is the in-memory broker both libraries publish to. It closes done
// when the target count is reached.
type sink struct {
	mu     sync.Mutex
	n      int
	target int
	done   chan struct{}
}

func newSink(target int) *sink { return &sink{target: target, done: make(chan struct{})} }

func (s *sink) Publish(ctx context.Context, _ outbox.Message) error {
	s.mu.Lock()
	if s.n++; s.n == s.target {
		close(s.done)
	}
	s.mu.Unlock()
	return nil
}

// BenchmarkRelayThroughput moves messagesPerOp[batch] messages per
// operation from PostgreSQL to an in-memory publisher and reports msg/s:
// bulwark's Relay.Run with its default configuration but the batch size,
// and watermill-sql's subscriber acking each message after handing it to
// the same in-memory sink.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, batch := range []int{1, 100, 1000} {
		n := messagesPerOp[batch]
		b.Run(fmt.Sprintf("impl=bulwark/batch=%d", batch), func(b *testing.B) {
			pool, schema := benchpg.Pool(b, nil)
			store := newStore(b, pool, schema)
			cfg := outbox.DefaultConfig()
			cfg.BatchSize = batch
			ctx := context.Background()
			b.ReportAllocs()
			var moved time.Duration
			for b.Loop() {
				b.StopTimer()
				fillBulwark(b, pool, n)
				pub := newSink(n)
				relay, err := outbox.NewRelay(store, pub, cfg)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				go func() { _ = relay.Run(ctx) }()
				<-pub.done
				moved += time.Since(start)
				b.StopTimer()
				if err := relay.Close(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/moved.Seconds(), "msg/s")
		})
		b.Run(fmt.Sprintf("impl=watermill-sql/batch=%d", batch), func(b *testing.B) {
			pool, _ := benchpg.Pool(b, nil)
			db := wsql.BeginnerFromPgx(pool)
			schema := wsql.DefaultPostgreSQLSchema{
				GeneratePayloadType: func(string) string { return "BYTEA" },
				SubscribeBatchSize:  batch,
			}
			logger := watermill.NopLogger{}
			pub, err := wsql.NewPublisher(db, wsql.PublisherConfig{SchemaAdapter: schema, AutoInitializeSchema: true}, logger)
			if err != nil {
				b.Fatal(err)
			}
			sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{
				ConsumerGroup:    "bench",
				SchemaAdapter:    schema,
				OffsetsAdapter:   wsql.DefaultPostgreSQLOffsetsAdapter{},
				InitializeSchema: true,
				PollInterval:     time.Second,
			}, logger)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			const topic = "orders"
			fill := func() {
				for chunk := range slices.Chunk(make([]struct{}, n), 1000) {
					msgs := make([]*message.Message, len(chunk))
					for i := range msgs {
						msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
					}
					if err := pub.Publish(topic, msgs...); err != nil {
						b.Fatal(err)
					}
				}
			}
			fill() // creates the table before subscribing
			received, err := sub.Subscribe(ctx, topic)
			if err != nil {
				b.Fatal(err)
			}
			out := newSink(-1)
			b.ReportAllocs()
			var moved time.Duration
			first := true
			for b.Loop() {
				if !first {
					b.StopTimer()
					fill()
					b.StartTimer()
				}
				first = false
				start := time.Now()
				for range n {
					m := <-received
					_ = out.Publish(ctx, outbox.Message{})
					m.Ack()
				}
				moved += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/moved.Seconds(), "msg/s")
		})
	}
}

// latencies records commit and publish times by message index.
type latencies struct {
	mu        sync.Mutex
	committed map[int]time.Time
	published map[int]time.Time
	samples   []time.Duration
}

func newLatencies() *latencies {
	return &latencies{committed: map[int]time.Time{}, published: map[int]time.Time{}}
}

func (l *latencies) commit(i int, at time.Time)  { l.mark(i, at, l.committed) }
func (l *latencies) publish(i int, at time.Time) { l.mark(i, at, l.published) }

func (l *latencies) mark(i int, at time.Time, mine map[int]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	mine[i] = at
	c, cok := l.committed[i]
	p, pok := l.published[i]
	if cok && pok {
		// The relay may publish before the writer's Commit call returns.
		l.samples = append(l.samples, max(p.Sub(c), 0))
		delete(l.committed, i)
		delete(l.published, i)
	}
}

func (l *latencies) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.samples)
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Sort(l.samples)
	at := func(q float64) float64 {
		return float64(l.samples[int(q*float64(len(l.samples)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// waitFor waits until n latencies were recorded.
func waitFor(b *testing.B, lat *latencies, n int) {
	deadline := time.Now().Add(time.Minute)
	for lat.count() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d messages arrived within a minute", lat.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// steadyWriter commits messages from, from+1, ... from+n-1 at one a
// millisecond, each in a transaction of its own, from a few goroutines so a
// slow commit does not delay the schedule, and records each commit time.
func steadyWriter(b *testing.B, ctx context.Context, from, n int, write func(ctx context.Context, i int) error, lat *latencies) {
	const writers = 8
	start := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// Other tests on a shared server may cut connections:
				// try a failed write again.
				var err error
				for range 5 {
					if err = write(ctx, i); err == nil {
						break
					}
				}
				if err != nil {
					b.Error(err)
				}
				lat.commit(i, time.Now())
			}
		}()
	}
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Millisecond)))
		next <- from + i
	}
	close(next)
	wg.Wait()
}

// BenchmarkCommitToPublish measures the time from a writer's commit to the
// publish of its message at a steady 1,000 messages a second, with a 1 s
// poll interval: bulwark's relay wakes on LISTEN/NOTIFY, watermill-sql's
// subscriber polls. One operation is one second (1,000 messages).
func BenchmarkCommitToPublish(b *testing.B) {
	const perOp = 1000
	b.Run("impl=bulwark", func(b *testing.B) {
		pool, schema := benchpg.Pool(b, nil)
		store := newStore(b, pool, schema)
		lat := newLatencies()
		pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
			i, _ := strconv.Atoi(string(m.Payload))
			lat.publish(i, time.Now())
			return nil
		})
		cfg := outbox.DefaultConfig()
		cfg.PollInterval = time.Second
		relay, err := outbox.NewRelay(store, pub, cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- relay.Run(ctx) }()
		time.Sleep(100 * time.Millisecond) // listening
		write := func(ctx context.Context, i int) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				return store.Enqueue(ctx, tx, outbox.Message{Topic: "orders", Key: fmt.Sprint("order-", i%keys), Payload: strconv.AppendInt(nil, int64(i), 10)})
			})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			steadyWriter(b, ctx, i, perOp, write, lat)
			i += perOp
			waitFor(b, lat, i)
		}
		b.StopTimer()
		lat.report(b)
		_ = relay.Close(ctx)
		<-done
	})
	b.Run("impl=watermill-sql", func(b *testing.B) {
		pool, _ := benchpg.Pool(b, nil)
		db := wsql.BeginnerFromPgx(pool)
		schema := wsql.DefaultPostgreSQLSchema{GeneratePayloadType: func(string) string { return "BYTEA" }, SubscribeBatchSize: 100}
		logger := watermill.NopLogger{}
		sub, err := wsql.NewSubscriber(db, wsql.SubscriberConfig{
			ConsumerGroup: "bench", SchemaAdapter: schema, OffsetsAdapter: wsql.DefaultPostgreSQLOffsetsAdapter{},
			InitializeSchema: true, PollInterval: time.Second,
		}, logger)
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const topic = "orders"
		received, err := sub.Subscribe(ctx, topic)
		if err != nil {
			b.Fatal(err)
		}
		lat := newLatencies()
		go func() {
			for m := range received {
				i, _ := strconv.Atoi(string(m.Payload))
				lat.publish(i, time.Now())
				m.Ack()
			}
		}()
		write := func(ctx context.Context, i int) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				pub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: schema}, logger)
				if err != nil {
					return err
				}
				return pub.Publish(topic, message.NewMessage(watermill.NewUUID(), strconv.AppendInt(nil, int64(i), 10)))
			})
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			steadyWriter(b, ctx, i, perOp, write, lat)
			i += perOp
			waitFor(b, lat, i)
		}
		b.StopTimer()
		lat.report(b)
	})
}
