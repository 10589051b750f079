// Command kafka shows the transactional outbox and a dead-letter topic on
// Apache Kafka, against franz-go's in-process fake cluster (kfake, three
// brokers), so it needs no broker and finishes on its own:
//
//   - orders are enqueued in an outbox (here an outbox.MemoryStore; in a
//     service, the database the orders are written to), and a relay
//     publishes them to the topic orders.created through kafkaoutbox,
//     keyed by customer, so each customer's orders stay in order;
//   - a consumer handles each record once by its message ID
//     (idempotency.Inbox), retrying failures (retry.Handler);
//   - an order the consumer cannot handle goes, after three attempts, to
//     orders.created.dlq through kafkadlq, with the error and every attempt;
//   - two orders are published again, as a relay restarted after a crash
//     would: Kafka keeps both copies and the inbox drops the repeats.
//
// Run it from the repository's root:
//
//	go run ./examples/kafka
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	topic    = "orders.created"
	dlqTopic = "orders.created.dlq"
)

// Options configure one run of the example.
type Options struct {
	Orders int // orders to enqueue, at least 5
	Poison int // the order the consumer cannot handle
}

func main() {
	o := Options{}
	flag.IntVar(&o.Orders, "orders", 12, "orders to enqueue (at least 5)")
	flag.IntVar(&o.Poison, "poison", 7, "the order the consumer cannot handle (0 for none)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, o Options) error {
	if o.Orders < 5 {
		return errors.New("-orders must be at least 5")
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, topic, dlqTopic))
	if err != nil {
		return err
	}
	defer cluster.Close()
	fmt.Fprintf(out, "kafka: in-process cluster of 3 brokers; %s and %s have 3 partitions\n", topic, dlqTopic)

	// The producing side: an outbox and a relay publishing through
	// kafkaoutbox with franz-go's durable defaults (acks=all, idempotent).
	producer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		return err
	}
	defer producer.Close()
	pub, err := kafkaoutbox.New(producer, kafkaoutbox.Config{})
	if err != nil {
		return err
	}
	store := outbox.NewMemoryStore()
	relay, err := outbox.NewRelay(store, pub, outbox.Config{})
	if err != nil {
		return err
	}
	relaying := bulwark.Start(ctx, relay)
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = relaying.Stop(stopCtx)
	}()

	var enqueued []outbox.Message
	for i := 1; i <= o.Orders; i++ {
		m := outbox.NewMessage(topic, fmt.Sprintf("customer-%d", i%3+1), fmt.Appendf(nil, "order-%03d", i))
		enqueued = append(enqueued, m)
		if err := store.Enqueue(ctx, m); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "outbox: enqueued %d orders for 3 customers; the relay publishes them\n", o.Orders)

	// The consuming side.
	c, err := newConsumer(cluster, producer, o.Poison, out)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.consume(ctx, o.Orders, 0); err != nil {
		return err
	}

	// A relay that published orders 2 and 4 but died before recording it
	// publishes them again after its restart.
	for _, m := range []outbox.Message{enqueued[1], enqueued[3]} {
		if err := pub.Publish(ctx, m); err != nil {
			return err
		}
		fmt.Fprintf(out, "relay: published %s again (same ID), as after a crash\n", m.Payload)
	}
	if err := c.consume(ctx, o.Orders, 2); err != nil {
		return err
	}

	letters, err := c.readDeadLetters(ctx)
	if err != nil {
		return err
	}
	for _, l := range letters {
		fmt.Fprintf(out, "dead letter: %s from %s[%d]@%d after %d attempts: %v\n",
			l.Item.Value, l.Item.Topic, l.Item.Partition, l.Item.Offset, len(l.Attempts), l.Err)
	}
	fmt.Fprintf(out, "done: %d orders, %d records on %s, %d handled once each, %d dead-lettered, %d duplicates dropped\n",
		o.Orders, c.records, topic, c.handled, len(letters), c.duplicates)
	return nil
}
