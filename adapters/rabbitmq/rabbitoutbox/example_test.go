package rabbitoutbox_test

import (
	"context"
	"log"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
)

// A relay from an outbox store to a RabbitMQ exchange, each message routed
// by its topic.
func Example() {
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: "amqp://guest:guest@127.0.0.1:5672/", Exchange: "events"})
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	relay, err := outbox.NewRelay(outbox.NewMemoryStore(), pub, outbox.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = relay.Run(context.Background()) }()
}

// A consumer decodes each delivery and runs its handler once per message
// ID, whatever copies the broker delivers.
func ExampleDecode() {
	var (
		deliveries <-chan amqp.Delivery // from amqp.Channel.Consume, without auto-ack
		inbox      *idempotency.Inbox
	)
	for d := range deliveries {
		m, err := rabbitoutbox.Decode(d)
		if err != nil {
			_ = d.Reject(false) // not an outbox message
			continue
		}
		_, err = inbox.Process(context.Background(), m.ID.String(), func(ctx context.Context) error {
			log.Printf("%s %s: %s", m.Topic, m.Key, m.Payload)
			return nil
		})
		if err != nil {
			_ = d.Nack(false, true) // redelivered later
			continue
		}
		_ = d.Ack(false)
	}
}
