package outbox_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
)

func Example() {
	ctx := context.Background()
	store := outbox.NewMemoryStore()
	publisher := outbox.NewMemoryPublisher()
	relay, err := outbox.NewRelay(store, publisher, outbox.DefaultConfig())
	if err != nil {
		panic(err)
	}
	go func() { _ = relay.Run(ctx) }()

	// In a real service this happens inside the business transaction, with
	// the Enqueue of pgoutbox or sqliteoutbox.
	_ = store.Enqueue(ctx,
		outbox.NewMessage("orders.created", "order-1", []byte(`{"total":42}`)),
		outbox.NewMessage("orders.paid", "order-1", []byte(`{"amount":42}`)),
	)

	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = publisher.WaitFor(wait, 2)
	_ = relay.Close(ctx)
	for _, m := range publisher.Messages() {
		fmt.Println(m.Topic, m.Key, string(m.Payload))
	}
	// Output:
	// orders.created order-1 {"total":42}
	// orders.paid order-1 {"amount":42}
}
