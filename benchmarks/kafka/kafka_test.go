// Package kafka measures kafkaoutbox against an in-process kfake cluster
// that acknowledges produce requests without storing them
// (kfake.BlackholeProduce), beside franz-go used directly: one publish at
// a time (what kafkaoutbox adds to a ProduceSync), and the outbox relay
// moving messages of 100 keys from a MemoryStore (beside producing the
// same records without per-key waits, the ceiling on this machine).
package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	topic = "orders.created"
	keys  = 100
	// messagesPerOp is how many messages one relay operation moves.
	messagesPerOp = 5000
)

var payload = []byte(`{"order_id":"7f9c2ba4-e88f-11ea-adc1-0242ac120002","total":4200,"currency":"EUR","lines":3}`)

func cluster(b *testing.B) *kgo.Client {
	b.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(6, topic), kfake.BlackholeProduce())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	// Load the topic's metadata before measuring.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: payload}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	return cl
}

func messages(n int) []outbox.Message {
	ms := make([]outbox.Message, n)
	for i := range ms {
		ms[i] = outbox.NewMessage(topic, fmt.Sprintf("order-%d", i%keys), payload)
		ms[i].Headers = map[string]string{"content-type": "application/json"}
	}
	return ms
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	ms := messages(1024)
	b.Run("impl=bulwark", func(b *testing.B) {
		pub, err := kafkaoutbox.New(cluster(b), kafkaoutbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := pub.Publish(ctx, ms[i%len(ms)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("impl=franz-go", func(b *testing.B) {
		cl := cluster(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			// The record kafkaoutbox would make, built by hand.
			if err := cl.ProduceSync(ctx, kafkaoutbox.Record(ms[i%len(ms)])).FirstErr(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkRelay(b *testing.B) {
	ctx := context.Background()
	b.Run("impl=bulwark", func(b *testing.B) {
		pub, err := kafkaoutbox.New(cluster(b), kafkaoutbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		cfg := outbox.DefaultConfig()
		cfg.BatchSize = 1000
		cfg.Concurrency = 64
		b.ReportAllocs()
		var elapsed time.Duration
		for b.Loop() {
			b.StopTimer()
			store := outbox.NewMemoryStore()
			if err := store.Enqueue(ctx, messages(messagesPerOp)...); err != nil {
				b.Fatal(err)
			}
			relay, err := outbox.NewRelay(store, pub, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			for published := 0; published < messagesPerOp; {
				res, err := relay.ProcessBatch(ctx)
				if err != nil {
					b.Fatal(err)
				}
				published += res.Published
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*messagesPerOp)/elapsed.Seconds(), "msg/s")
	})
	b.Run("impl=franz-go", func(b *testing.B) {
		cl := cluster(b)
		b.ReportAllocs()
		var elapsed time.Duration
		for b.Loop() {
			b.StopTimer()
			ms := messages(messagesPerOp)
			b.StartTimer()
			start := time.Now()
			for _, m := range ms {
				cl.Produce(ctx, kafkaoutbox.Record(m), func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed += time.Since(start)
		}
		b.ReportMetric(float64(b.N*messagesPerOp)/elapsed.Seconds(), "msg/s")
	})
}
