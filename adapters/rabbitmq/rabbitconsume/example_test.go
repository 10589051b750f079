package rabbitconsume_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/consume"
)

// A consumer of the queue "orders", bound to the exchange rabbitoutbox
// publishes to, with its dead letters in "orders.dead".
func Example() {
	const url = "amqp://guest:guest@127.0.0.1:5672/"
	src, err := rabbitconsume.New(rabbitconsume.Config{
		URL:             url,
		Queue:           "orders",
		Bindings:        []rabbitconsume.Binding{{Exchange: "events", Key: "orders.#"}},
		DeadLetterQueue: "orders.dead",
	})
	if err != nil {
		log.Fatal(err)
	}
	sink, err := rabbitdlq.New(rabbitconsume.SinkConfig(url, "orders.dead"))
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	handler := consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		if !strings.HasPrefix(string(m.Payload), "{") {
			return consume.Permanent(fmt.Errorf("order %s: not JSON", m.ID)) // dead-lettered at once
		}
		log.Printf("order %s (key %s, attempt %d): %s", m.ID, m.Key, m.Attempt, m.Payload)
		return nil
	})
	c, err := consume.New(src, consume.Chain(handler, consume.Recover()), consume.Config{DeadLetters: sink})
	if err != nil {
		log.Fatal(err)
	}
	g := bulwark.Start(context.Background(), c) // receives until stopped
	defer g.Stop(context.Background())
}

// The dead letters of "orders": list them, then replay those that failed
// on a bug since fixed.
func ExampleDeadLetters() {
	dl, err := rabbitconsume.NewDeadLetters(rabbitconsume.DeadLettersConfig{
		URL:      "amqp://guest:guest@127.0.0.1:5672/",
		Queue:    "orders.dead",
		ReplayTo: "orders",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer dl.Close()
	ctx := context.Background()
	letters, err := dl.List(ctx, 100)
	if err != nil {
		log.Print(err) // messages that are not letters; the letters are still listed
	}
	for _, l := range letters {
		log.Printf("%s (key %s) after %d attempts: %s", l.Item.ID, l.Item.Key, l.AttemptCount, l.Err)
	}
	n, err := dl.Replay(ctx, 100, func(l rabbitconsume.Letter) bool { return strings.Contains(l.Err, "nil pointer") })
	log.Printf("replayed %d: %v", n, err)
}

// The retry queues of "orders": one per delay tier, declared on first use.
func ExampleRetryQueueName() {
	for _, tier := range rabbitconsume.DefaultRetryTiers()[:4] {
		fmt.Println(rabbitconsume.RetryQueueName("orders", tier))
	}
	// Output:
	// orders.retry.10ms
	// orders.retry.20ms
	// orders.retry.50ms
	// orders.retry.100ms
}
