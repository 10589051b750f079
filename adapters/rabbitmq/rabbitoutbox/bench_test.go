package rabbitoutbox_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
)

// BenchmarkPublish measures a confirmed publish of a 200-byte message to a
// queue, one at a time (parallel=1, the latency a key's messages see) and
// from 16 goroutines per core (the relay publishing many keys at once),
// beside amqp091-go's own confirmed publish (PublishWithDeferredConfirm and
// Wait, without mandatory) on one channel.
func BenchmarkPublish(b *testing.B) {
	url := rabbittest.URL(b)
	q := rabbittest.Queue(b, url, "", amqp.Table{"x-max-length": int32(1000)})
	payload := make([]byte, 200)
	for _, par := range []int{1, 16} {
		b.Run("impl=bulwark/parallel="+strconv.Itoa(par), func(b *testing.B) {
			p, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			m := outbox.NewMessage(q, "k", payload)
			m.Headers = map[string]string{"trace-id": "abc"}
			run(b, par, func() error { return p.Publish(context.Background(), m) })
		})
		b.Run("impl=amqp091/parallel="+strconv.Itoa(par), func(b *testing.B) {
			ch := rabbittest.Channel(b, url)
			if err := ch.Confirm(false); err != nil {
				b.Fatal(err)
			}
			m := outbox.NewMessage(q, "k", payload)
			msg := amqp.Publishing{Headers: amqp.Table{"trace-id": "abc"}, DeliveryMode: amqp.Persistent, MessageId: m.ID.String(), Body: payload}
			run(b, par, func() error {
				dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", q, false, false, msg)
				if err != nil {
					return err
				}
				if !dc.Wait() {
					return amqp.ErrClosed
				}
				return nil
			})
		})
	}
}

func run(b *testing.B, par int, publish func() error) {
	b.ReportAllocs()
	if par == 1 {
		for b.Loop() {
			if err := publish(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := publish(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
