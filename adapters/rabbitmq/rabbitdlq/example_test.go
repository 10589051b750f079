package rabbitdlq_test

import (
	"context"
	"log"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

type payment struct {
	OrderID string `json:"order_id"`
	Amount  int    `json:"amount"`
}

// A consumer whose failing messages end in the queue "payments.dlq" with
// their errors and attempts.
func Example() {
	sink, err := rabbitdlq.New(rabbitdlq.Config[payment]{URL: "amqp://guest:guest@127.0.0.1:5672/", RoutingKey: "payments.dlq"})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	r, err := retry.New(retry.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	handle := retry.Handler(r, sink, func(ctx context.Context, p payment) error {
		return nil // charge p.Amount for p.OrderID
	})
	_ = handle
}

// Reading the dead-letter queue back, to report or replay its letters.
func ExampleDecode() {
	var deliveries <-chan amqp.Delivery // from amqp.Channel.Consume on "payments.dlq"
	for d := range deliveries {
		l, err := rabbitdlq.Decode[payment](d, nil)
		if err != nil {
			log.Print(err)
			continue
		}
		log.Printf("order %s failed %d times, last: %s", l.Item.OrderID, l.AttemptCount, l.Err)
		_ = d.Ack(false)
	}
}
