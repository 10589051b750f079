package rabbitconsume_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	amqp "github.com/rabbitmq/amqp091-go"
)

// BenchmarkConsume measures messages per second from a queue holding b.N
// 200-byte messages over 100 keys (published before the timer starts)
// through a Consumer on a Source with an empty handler, each message
// acknowledged, beside a hand-written amqp091-go loop (one goroutine,
// manual acks, the same prefetch).
func BenchmarkConsume(b *testing.B) {
	url := rabbittest.URL(b)
	payload := make([]byte, 200)
	fill := func(b *testing.B, q string) {
		b.Helper()
		ch := rabbittest.Channel(b, url)
		if err := ch.Confirm(false); err != nil {
			b.Fatal(err)
		}
		var last *amqp.DeferredConfirmation
		for i := range b.N {
			var err error
			last, err = ch.PublishWithDeferredConfirm("", q, false, false, amqp.Publishing{
				MessageId: fmt.Sprint("m-", i), Headers: amqp.Table{rabbitoutbox.KeyHeader: fmt.Sprint("k-", i%100)},
				DeliveryMode: amqp.Persistent, Body: payload,
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		if ok, err := last.WaitContext(context.Background()); err != nil || !ok {
			b.Fatalf("publishing: %v %v", ok, err)
		}
	}
	b.Run("impl=consume", func(b *testing.B) {
		q := rabbittest.Queue(b, url, "", nil)
		fill(b, q)
		s, err := rabbitconsume.New(rabbitconsume.Config{URL: url, Queue: q})
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		done := make(chan struct{})
		c, err := consume.New(s, consume.HandlerFunc(func(context.Context, *consume.Message) error {
			if n.Add(1) == int64(b.N) {
				close(done)
			}
			return nil
		}), consume.Config{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		go func() { _ = c.Run(context.Background()) }()
		<-done
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		b.StopTimer()
		if err := c.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=amqp091", func(b *testing.B) {
		q := rabbittest.Queue(b, url, "", nil)
		fill(b, q)
		ch := rabbittest.Channel(b, url)
		if err := ch.Qos(rabbitconsume.DefaultPrefetch, 0, false); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		ds, err := ch.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range b.N {
			d := <-ds
			if err := d.Ack(false); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
}
