package kafkaconsume_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceN fills a fresh topic (and its retry topic) with n records of 100
// bytes and returns its name.
func produceN(b *testing.B, n int) (string, []kgo.Opt) {
	c := kafkatest.Cluster(b)
	topic := kafkatest.Topic(b, c, 1)
	if err := c.CreateTopic(topic+".retry", 1, nil); err != nil {
		b.Fatal(err)
	}
	prod := kafkatest.Client(b, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := make([]byte, 100)
	for range n {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return topic, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

// BenchmarkPlainGroupClient is the hand-written loop to compare with: a
// group client polling 256 records at a time and marking them for the
// client's autocommit.
func BenchmarkPlainGroupClient(b *testing.B) {
	topic, opts := produceN(b, b.N)
	cl, err := kgo.NewClient(append(opts, kgo.ConsumerGroup("bench-"+topic), kgo.ConsumeTopics(topic), kgo.AutoCommitMarks())...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		fs := cl.PollRecords(ctx, 256)
		if err := fs.Err0(); err != nil {
			b.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			cl.MarkCommitRecords(r)
			got++
		})
	}
}

// BenchmarkReceiveAck: records received and acked through a Source on
// kfake, 256 at a time (the Consumer's default MaxPending), one partition.
func BenchmarkReceiveAck(b *testing.B) {
	topic, opts := produceN(b, b.N)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := kafkaconsume.New("bench-"+topic, []string{topic}, kafkaconsume.Config{Opts: opts})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	b.ReportAllocs()
	b.ResetTimer()
	for got := 0; got < b.N; {
		ds, err := s.Receive(ctx, 256)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range ds {
			if err := d.Ack(ctx); err != nil {
				b.Fatal(err)
			}
		}
		got += len(ds)
	}
}
