package kafkaoutbox_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A relay publishes an outbox to Kafka (an in-process kfake cluster here),
// and a consumer decodes what arrives.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.SeedTopics(3, "orders.created"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)

	producer, err := kgo.NewClient(seeds) // acks=all and idempotent by default
	if err != nil {
		panic(err)
	}
	defer producer.Close()
	pub, err := kafkaoutbox.New(producer, kafkaoutbox.Config{})
	if err != nil {
		panic(err)
	}
	store := outbox.NewMemoryStore()
	relay, err := outbox.NewRelay(store, pub, outbox.DefaultConfig())
	if err != nil {
		panic(err)
	}
	go func() { _ = relay.Run(ctx) }()
	defer func() { _ = relay.Close(context.Background()) }()

	for i := 1; i <= 3; i++ {
		err := store.Enqueue(ctx, outbox.NewMessage("orders.created", "customer-7", fmt.Appendf(nil, `{"order":%d}`, i)))
		if err != nil {
			panic(err)
		}
	}

	consumer, err := kgo.NewClient(seeds, kgo.ConsumeTopics("orders.created"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer consumer.Close()
	for seen := 0; seen < 3; {
		for _, rec := range consumer.PollFetches(ctx).Records() {
			m, err := kafkaoutbox.Decode(rec)
			if err != nil {
				panic(err)
			}
			fmt.Println(m.Topic, m.Key, string(m.Payload)) // deduplicate on m.ID in a real consumer
			seen++
		}
	}
	// Output:
	// orders.created customer-7 {"order":1}
	// orders.created customer-7 {"order":2}
	// orders.created customer-7 {"order":3}
}
