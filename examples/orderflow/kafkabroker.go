package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaBroker is Kafka: an in-process kfake cluster, or a Kafka-protocol
// server at an address. The run creates its topics: orders.created (3
// partitions), its retry topic and the processor's dead letters; on a
// server, named with a random prefix and deleted at the end. The relay
// publishes with kafkaoutbox, keyed by order; the processor consumes in the
// group order-processor with kafkaconsume and dead-letters with
// kafkaconsume.DeadLetters. Kafka keeps a copy the relay publishes again;
// the processor's inbox skips it.
type kafkaBroker struct {
	cluster      *kfake.Cluster // nil for a server at an address
	addrs        []string
	client       *kgo.Client // produces (the relay, the dead letters) and administers
	admin        *kadm.Client
	prefix       string
	orders, dead string // topic names
	letters      *kafkaconsume.DeadLetters
	created      bool // the topics were created: close deletes them
}

// kafkaPartitions is how many partitions orders.created has.
const kafkaPartitions = 3

func startKafka(ctx context.Context, addr string) (*kafkaBroker, error) {
	b := &kafkaBroker{}
	if addr != "" {
		var tag [4]byte
		_, _ = rand.Read(tag[:])
		b.prefix = "orderflow-" + hex.EncodeToString(tag[:]) + "."
	}
	b.orders, b.dead = b.prefix+"orders.created", b.prefix+"dead-letters"
	if addr == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			return nil, fmt.Errorf("starting an in-process kfake cluster: %w", err)
		}
		b.cluster, b.addrs = c, c.ListenAddrs()
	} else {
		b.addrs = []string{addr}
	}
	var err error
	if b.client, err = kgo.NewClient(kgo.SeedBrokers(b.addrs...)); err != nil {
		b.close()
		return nil, err
	}
	b.admin = kadm.NewClient(b.client)
	if err := b.createTopics(ctx); err != nil {
		b.close()
		return nil, err
	}
	if b.letters, err = kafkaconsume.NewDeadLetters(b.client, kafkaconsume.DeadLetterConfig{Topic: b.dead}); err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *kafkaBroker) createTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := b.admin.CreateTopics(ctx, kafkaPartitions, -1, nil, b.orders, b.orders+".retry", b.dead)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("creating the run's topics on the Kafka server at %v (is one running there?): %w", b.addrs, err)
	}
	b.created = true
	return nil
}

func (b *kafkaBroker) describe() string {
	if b.cluster != nil {
		return fmt.Sprintf("an in-process kfake Kafka cluster at %v", b.addrs)
	}
	return fmt.Sprintf("the Kafka server at %v, topics %s* (deleted at the end)", b.addrs, b.prefix)
}

func (b *kafkaBroker) name() string { return "Kafka" }

func (b *kafkaBroker) copies() string {
	return "Kafka keeps the copy, and the processor's inbox will skip it"
}

// publisher produces each event to this run's orders.created.
func (b *kafkaBroker) publisher() (outbox.Publisher, error) {
	return kafkaoutbox.New(b.client, kafkaoutbox.Config{Topic: func(m outbox.Message) string { return b.prefix + m.Topic }})
}

func (b *kafkaBroker) source() (consume.Source, error) {
	return kafkaconsume.New("order-processor", []string{b.orders}, kafkaconsume.Config{
		Opts: []kgo.Opt{kgo.SeedBrokers(b.addrs...)},
		// Commit done offsets often: a processor restarted after a crash
		// has less to be delivered again.
		CommitInterval: 200 * time.Millisecond,
		Name:           "order-processor",
	})
}

func (b *kafkaBroker) deadLetterSink() retry.DeadLetterSink[consume.Message] { return b.letters }

// deadLetters counts the records of the dead-letter topic: one per letter.
func (b *kafkaBroker) deadLetters(ctx context.Context) (int, error) {
	ends, err := b.ends(ctx, b.dead)
	n := 0
	for _, end := range ends {
		n += int(end)
	}
	return n, err
}

// ends returns the end offset of each partition of topic.
func (b *kafkaBroker) ends(ctx context.Context, topic string) (map[int32]int64, error) {
	listed, err := b.admin.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	ends := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return ends, nil
}

// messages reads orders.created from its start to its end and counts the
// distinct message IDs in it.
func (b *kafkaBroker) messages(ctx context.Context) (int, error) {
	ends, err := b.ends(ctx, b.orders)
	if err != nil {
		return 0, err
	}
	want := int64(0)
	for _, end := range ends {
		want += end
	}
	reader, err := kgo.NewClient(kgo.SeedBrokers(b.addrs...), kgo.ConsumeTopics(b.orders),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, err
	}
	defer reader.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ids := map[string]bool{}
	for read := int64(0); read < want; {
		fs := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("reading %s: %d of %d records: %w", b.orders, read, want, ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			return 0, fmt.Errorf("reading %s: %w", b.orders, err)
		}
		for _, rec := range fs.Records() {
			read++
			m, err := kafkaoutbox.Decode(rec)
			if err != nil {
				return 0, err
			}
			ids[m.ID.String()] = true
		}
	}
	return len(ids), nil
}

// close deletes the run's topics and stops the cluster or disconnects.
func (b *kafkaBroker) close() {
	if b.created && b.cluster == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = b.admin.DeleteTopics(ctx, b.orders, b.orders+".retry", b.dead)
		cancel()
	}
	if b.client != nil {
		b.client.Close()
	}
	if b.cluster != nil {
		b.cluster.Close()
	}
}
