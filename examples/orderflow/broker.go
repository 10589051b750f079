package main

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// broker is NATS JetStream, embedded in this process: a real server on a
// loopback port, storing in a temporary directory.
type broker struct {
	server *natsserver.Server
	conn   *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
}

// duplicateWindow is how long the ORDERS stream remembers message IDs: a
// message published again within it (same Nats-Msg-Id) is acknowledged
// and dropped.
const duplicateWindow = 5 * time.Minute

// deadStream is the stream that keeps the messages the order processor
// gave up on (natsconsume.DeadLetters), to list, replay or discard.
const deadStream = "DEAD"

func startBroker(ctx context.Context, dir string) (*broker, error) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dir, "jetstream"), NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	b := &broker{server: ns}
	if !ns.ReadyForConnections(10 * time.Second) {
		b.close()
		return nil, errors.New("the embedded nats-server did not start within 10s")
	}
	if b.conn, err = nats.Connect(ns.ClientURL()); err != nil {
		b.close()
		return nil, err
	}
	if b.js, err = jetstream.New(b.conn); err == nil {
		b.stream, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: duplicateWindow})
	}
	if err == nil {
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: deadStream, Subjects: []string{"dead.>"}})
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *broker) url() string { return b.server.ClientURL() }

// messages returns how many messages the stream holds.
func (b *broker) messages(ctx context.Context) (int, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int(info.State.Msgs), nil
}

func (b *broker) close() {
	if b.conn != nil {
		b.conn.Close()
	}
	b.server.Shutdown()
	b.server.WaitForShutdown()
}

// startRelay starts the outbox relay that moves the order service's
// committed events to JetStream, and returns it with the Group running it.
func startRelay(store outbox.Store, b *broker, seed uint64, story *story, count *counters) (*outbox.Relay, *bulwark.Group, error) {
	pub, err := natsoutbox.New(b.js, natsoutbox.Config{})
	if err != nil {
		return nil, nil, err
	}
	// Chaos at the relay: now and then it publishes a message twice, as a
	// relay does when it dies after publishing and before recording it,
	// and publishes the message again once restarted. natsoutbox sends the
	// message's ID as Nats-Msg-Id, and the stream drops the copy.
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
			story.say("relay: published %s's %s event a second time, as a relay restarted after a crash would; JetStream drops the copy", m.Key, m.Topic)
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
// message go, event Dropped) and is a Nak, which has JetStream deliver the
// message again at once, as it would after AckWait.
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
