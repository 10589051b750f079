package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
)

func Example() {
	ctx := context.Background()
	store := outbox.NewMemoryStore()
	publisher := outbox.NewMemoryPublisher()
	relay, err := outbox.NewRelay(store, publisher, outbox.Config{})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, relay)

	// In a real service this happens inside the business transaction, with
	// the Enqueue of pgoutbox or sqliteoutbox.
	_ = store.Enqueue(ctx,
		outbox.NewMessage("orders.created", "order-1", []byte(`{"total":42}`)),
		outbox.NewMessage("orders.paid", "order-1", []byte(`{"amount":42}`)),
	)

	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = publisher.WaitFor(wait, 2)
	_ = services.Stop(ctx)
	for _, m := range publisher.Messages() {
		fmt.Println(m.Topic, m.Key, string(m.Payload))
	}
	// Output:
	// orders.created order-1 {"total":42}
	// orders.paid order-1 {"amount":42}
}

// A message the publisher refuses as invalid is dead-lettered at its first
// attempt; a failing one is retried, with events reported to the Observer
// at each step.
func ExampleConfig_observer() {
	ctx := context.Background()
	store := outbox.NewMemoryStore()
	failures := 0
	pub := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		switch m.Key {
		case "too-big":
			return fmt.Errorf("header over the broker's limit: %w", outbox.ErrInvalidMessage)
		case "flaky":
			if failures++; failures == 1 {
				return errors.New("broker unavailable")
			}
		}
		return nil
	})
	relay, err := outbox.NewRelay(store, pub, outbox.Config{
		Name:    "orders",
		Backoff: retry.Constant{}, // retry at once, for the example
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			switch e := e.(type) {
			case outbox.Published:
				fmt.Println(e.Component(), e.Kind(), e.Message.Key, "after", e.Attempts, "failed attempts")
			case outbox.PublishFailed:
				fmt.Println(e.Component(), e.Kind(), e.Message.Key, e.Err)
			case outbox.DeadLettered:
				fmt.Println(e.Component(), e.Kind(), e.Message.Key, "invalid:", e.Invalid)
			}
		}),
	})
	if err != nil {
		panic(err)
	}
	_ = store.Enqueue(ctx, outbox.NewMessage("t", "too-big", nil))
	_, _ = relay.ProcessBatch(ctx)
	_ = store.Enqueue(ctx, outbox.NewMessage("t", "flaky", nil))
	_, _ = relay.ProcessBatch(ctx)
	_, _ = relay.ProcessBatch(ctx)
	// Output:
	// orders outbox.dead_lettered too-big invalid: true
	// orders outbox.publish_failed flaky broker unavailable
	// orders outbox.published flaky after 1 failed attempts
}

// Enqueue refuses a message whose key is not text before storing anything.
func ExampleMemoryStore_Enqueue() {
	store := outbox.NewMemoryStore()
	err := store.Enqueue(context.Background(), outbox.NewMessage("orders.created", "order-\x00", nil))
	fmt.Println(errors.Is(err, outbox.ErrInvalidMessage))
	fmt.Println(err)
	// Output:
	// true
	// outbox: invalid message: message 0: the Key "order-\x00" (7 bytes) holds a NUL byte
}
