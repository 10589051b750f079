package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkadlq"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumer reads orders.created, handles each message once by its ID, and
// dead-letters what still fails after three attempts.
type consumer struct {
	cl     *kgo.Client
	dlq    *kgo.Client
	out    io.Writer
	poison string
	handle func(context.Context, *kgo.Record) error

	records, handled, deadLettered, duplicates int
}

func newConsumer(cluster *kfake.Cluster, producer *kgo.Client, poison int, out io.Writer) (*consumer, error) {
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	from := kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())
	cl, err := kgo.NewClient(seeds, from, kgo.ConsumeTopics(topic))
	if err != nil {
		return nil, err
	}
	dlq, err := kgo.NewClient(seeds, from, kgo.ConsumeTopics(dlqTopic))
	if err != nil {
		cl.Close()
		return nil, err
	}
	c := &consumer{cl: cl, dlq: dlq, out: out, poison: fmt.Sprintf("order-%03d", poison)}

	keeper, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	if err != nil {
		return nil, err
	}
	inbox, err := idempotency.NewInbox(keeper, idempotency.InboxConfig{Consumer: "fulfilment"})
	if err != nil {
		return nil, err
	}
	retrier, err := retry.New(retry.Config{Backoff: retry.Constant{Delay: 20 * time.Millisecond}})
	if err != nil {
		return nil, err
	}
	sink, err := kafkadlq.New(producer, kafkadlq.Config[*kgo.Record]{Topic: dlqTopic})
	if err != nil {
		return nil, err
	}
	c.handle = retry.Handler(retrier, sink, func(ctx context.Context, rec *kgo.Record) error {
		m, err := kafkaoutbox.Decode(rec)
		if err != nil {
			return retry.Permanent(err)
		}
		ran, err := inbox.Process(ctx, m.ID.String(), func(context.Context) error {
			if string(m.Payload) == c.poison {
				fmt.Fprintf(c.out, "  consumer: %s for %s: inventory does not know its SKU\n", m.Payload, m.Key)
				return fmt.Errorf("inventory: unknown SKU in %s", m.Payload)
			}
			fmt.Fprintf(c.out, "  consumer: %s for %s (partition %d)\n", m.Payload, m.Key, rec.Partition)
			c.handled++
			return nil
		})
		if err == nil && !ran {
			fmt.Fprintf(c.out, "  consumer: %s again (ID %s): dropped by the inbox\n", m.Payload, m.ID)
			c.duplicates++
		}
		return err
	})
	return c, nil
}

// consume handles records until orders have been handled or dead-lettered
// and duplicates repeats dropped.
func (c *consumer) consume(ctx context.Context, orders, duplicates int) error {
	for c.handled+c.deadLettered < orders || c.duplicates < duplicates {
		fs := c.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consumer: %d of %d orders done: %w", c.handled+c.deadLettered, orders, err)
		}
		if err := fs.Err0(); err != nil {
			return err
		}
		for _, rec := range fs.Records() {
			c.records++
			before := c.handled + c.duplicates
			if err := c.handle(ctx, rec); err != nil {
				return err // not handled: a real consumer stops and retries later
			}
			if c.handled+c.duplicates == before {
				c.deadLettered++
			}
		}
	}
	return nil
}

// readDeadLetters reads every letter on the dead-letter topic.
func (c *consumer) readDeadLetters(ctx context.Context) ([]retry.DeadLetter[*kgo.Record], error) {
	var letters []retry.DeadLetter[*kgo.Record]
	for len(letters) < c.deadLettered {
		fs := c.dlq.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, rec := range fs.Records() {
			l, err := kafkadlq.Decode[*kgo.Record](rec, nil)
			if err != nil {
				return nil, err
			}
			letters = append(letters, l)
		}
	}
	return letters, nil
}

func (c *consumer) close() {
	c.cl.Close()
	c.dlq.Close()
}
