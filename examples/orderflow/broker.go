package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
)

// broker is what the flow needs of a message broker: the relay publishes
// the order service's events through it, the processor consumes them from
// it and dead-letters what it gives up on to it, and the audit counts the
// events it holds and its dead letters. Three implement it: NATS JetStream
// (natsbroker.go, embedded by default), Kafka (kafkabroker.go, an
// in-process kfake cluster by default) and RabbitMQ (rabbitbroker.go, a
// real server).
type broker interface {
	// describe says which broker this is and where, for the story.
	describe() string
	// name is the broker's short name in the story's lines.
	name() string
	// copies says what becomes of an event the relay publishes twice.
	copies() string
	// publisher returns the relay's outbox.Publisher of orders.created.
	publisher() (outbox.Publisher, error)
	// source returns a new Source of orders.created for the processor's
	// Consumer; it resumes where the processor's last Source stopped.
	source() (consume.Source, error)
	// deadLetterSink is where the processor's Consumer puts the messages
	// it gives up on.
	deadLetterSink() retry.DeadLetterSink[consume.Message]
	// deadLetters counts the letters in deadLetterSink's store.
	deadLetters(ctx context.Context) (int, error)
	// messages counts the distinct events (by message ID) the broker
	// took on orders.created.
	messages(ctx context.Context) (int, error)
	// close stops the broker, or disconnects from it, and removes what
	// the run made there.
	close()
}

// Brokers the -broker flag takes.
const (
	brokerNATS     = "nats"
	brokerKafka    = "kafka"
	brokerRabbitMQ = "rabbitmq"
)

// defaultRabbitMQ is the RabbitMQ -rabbitmq names by default.
const defaultRabbitMQ = "amqp://guest:guest@127.0.0.1:5672/"

// startBroker starts (or connects to) the broker o names.
func startBroker(ctx context.Context, o Options) (broker, error) {
	switch o.Broker {
	case "", brokerNATS:
		return asBroker(startNATS(ctx, o.Dir, o.NATS))
	case brokerKafka:
		return asBroker(startKafka(ctx, o.Kafka))
	case brokerRabbitMQ:
		url := o.RabbitMQ
		if url == "" {
			url = defaultRabbitMQ
		}
		return asBroker(startRabbitMQ(ctx, url))
	}
	return nil, fmt.Errorf("-broker must be nats, kafka or rabbitmq, got %q", o.Broker)
}

// asBroker returns b as a broker, and a nil broker (not a nil pointer in
// a non-nil interface) with an error.
func asBroker[B broker](b B, err error) (broker, error) {
	if err != nil {
		return nil, err
	}
	return b, nil
}

// startRelay starts the outbox relay that moves the order service's
// committed events to the broker, and returns it with the Group running it.
func startRelay(store outbox.Store, b broker, tr *tracing, seed uint64, story *story, count *counters) (*outbox.Relay, *bulwark.Group, error) {
	pub, err := b.publisher()
	if err != nil {
		return nil, nil, err
	}
	// Each publication in a span of the relay's, in the trace the message
	// carries, which the published message carries on to the processor.
	tel, err := tr.telemetry("relay")
	if err != nil {
		return nil, nil, err
	}
	pub = tel.TracePublisher(pub)
	// Chaos at the relay: now and then it publishes a message twice, as a
	// relay does when it dies after publishing and before recording it,
	// and publishes the message again once restarted. The copy has the
	// message's ID: JetStream drops it (Nats-Msg-Id), Kafka and RabbitMQ
	// keep it and the processor's inbox skips it.
	twice, err := chaos.New(chaos.Config{Seed: seed, Faults: chaos.Faults{ErrorRate: 0.08}})
	if err != nil {
		return nil, nil, err
	}
	publisher := outbox.PublisherFunc(func(ctx context.Context, m outbox.Message) error {
		if err := pub.Publish(ctx, m); err != nil {
			return err
		}
		if twice.Do(ctx, func(context.Context) error { return nil }) != nil {
			count.republished.Add(1)
			story.say("relay: published %s's %s event a second time, as a relay restarted after a crash would; %s", m.Key, m.Topic, b.copies())
			return pub.Publish(ctx, m)
		}
		return nil
	})

	relay, err := outbox.NewRelay(store, publisher, outbox.Config{
		PollInterval: 50 * time.Millisecond, // SQLite cannot notify the relay of a commit
		Backoff:      retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.EqualJitter},
		MaxDelay:     2 * time.Second,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			switch e := e.(type) {
			case outbox.Published:
				count.published.Add(1)
			case outbox.PublishFailed:
				story.say("relay: publishing %s's %s event failed (%v); trying again in %v", e.Message.Key, e.Message.Topic, e.Err, time.Until(e.RetryAt).Round(time.Millisecond))
			case outbox.DeadLettered:
				story.say("relay: gave up on %s's %s event after %d attempts (%v): it waits in the dead letters", e.Message.Key, e.Message.Topic, e.Attempts, e.Err)
			}
		}),
	})
	if err != nil {
		return nil, nil, err
	}
	return relay, bulwark.Start(context.Background(), relay), nil
}

// loseAcks wraps the order processor's Source in chaos: it counts the
// deliveries, and loses some acks. A lost ack fails (the Consumer lets the
// message go, event Dropped) and is a Release, which has the broker deliver
// the message again at once, as it would after its ack deadline.
func loseAcks(src consume.Source, seed uint64, count *counters) (consume.Source, error) {
	lose, err := chaos.New(chaos.Config{Seed: seed, Faults: chaos.Faults{ErrorRate: 0.08}})
	return lossySource{src, lose, count}, err
}

type lossySource struct {
	consume.Source
	lose  *chaos.Injector
	count *counters
}

func (s lossySource) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	ds, err := s.Source.Receive(ctx, max)
	s.count.delivered.Add(int64(len(ds)))
	for i, d := range ds {
		ds[i] = lossyDelivery{d, s.lose}
	}
	return ds, err
}

type lossyDelivery struct {
	consume.Delivery
	lose *chaos.Injector
}

func (d lossyDelivery) Ack(ctx context.Context) error {
	err := d.lose.Do(ctx, d.Delivery.Ack)
	if errors.Is(err, chaos.ErrInjected) {
		_ = d.Release(ctx)
	}
	return err
}
