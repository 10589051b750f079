package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitBroker is a RabbitMQ server (there is no embedded one). The run
// declares a topic exchange and queues of its own, named with a random
// prefix, and deletes them at the end: the processor's queue, bound to
// orders.created, with its retry queues and its dead-letter queue, and an
// audit queue bound to orders.created too, which nobody consumes, for the
// ledger to count the events the broker took. The relay publishes with
// rabbitoutbox (publisher confirms); the processor consumes with
// rabbitconsume and dead-letters with rabbitdlq. RabbitMQ keeps a copy the
// relay publishes again; the processor's inbox skips it.
type rabbitBroker struct {
	url                string
	conn               *amqp.Connection // declares, deletes, and reads the audit queue
	exchange           string
	queue, audit, dead string
	pub                *rabbitoutbox.Publisher
	sink               *rabbitdlq.Sink[consume.Message]
	letters            *rabbitconsume.DeadLetters
	declaredQueues     []string
	declaredExchange   bool
	mu                 sync.Mutex
	seen               map[string]bool // IDs read from the audit queue
}

// rabbitRetryTiers are the delays of the processor queue's retry queues.
var rabbitRetryTiers = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

func startRabbitMQ(ctx context.Context, rawURL string) (*rabbitBroker, error) {
	conn, err := amqp.DialConfig(rawURL, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("cannot reach RabbitMQ at %s (-broker rabbitmq needs a running RabbitMQ; there is no embedded one: start one, or name it with -rabbitmq URL): %w", redact(rawURL), err)
	}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	name := "orderflow-" + hex.EncodeToString(tag[:])
	b := &rabbitBroker{url: rawURL, conn: conn, exchange: name, queue: name + ".order-processor", audit: name + ".audit", dead: name + ".dead-letters", seen: map[string]bool{}}
	if err := b.declare(); err != nil {
		b.close()
		return nil, err
	}
	if b.pub, err = rabbitoutbox.New(rabbitoutbox.Config{URL: rawURL, Exchange: b.exchange}); err == nil {
		b.sink, err = rabbitdlq.New(rabbitconsume.SinkConfig(rawURL, b.dead))
	}
	if err == nil {
		b.letters, err = rabbitconsume.NewDeadLetters(rabbitconsume.DeadLettersConfig{URL: rawURL, Queue: b.dead, ReplayTo: b.queue})
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// declare declares the exchange and the queues, before the relay publishes:
// an event published before its queue is bound would be lost. The
// processor's queue and the dead-letter queue are declared as
// rabbitconsume declares them (durable, no arguments).
func (b *rabbitBroker) declare() error {
	ch, err := b.conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.ExchangeDeclare(b.exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declaring exchange %s: %w", b.exchange, err)
	}
	b.declaredExchange = true
	for _, q := range []string{b.queue, b.audit, b.dead} {
		b.declaredQueues = append(b.declaredQueues, q)
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declaring queue %s: %w", q, err)
		}
	}
	for _, q := range []string{b.queue, b.audit} {
		if err := ch.QueueBind(q, "orders.created", b.exchange, false, nil); err != nil {
			return fmt.Errorf("binding queue %s: %w", q, err)
		}
	}
	for _, tier := range rabbitRetryTiers {
		b.declaredQueues = append(b.declaredQueues, rabbitconsume.RetryQueueName(b.queue, tier))
	}
	return nil
}

func (b *rabbitBroker) describe() string {
	return fmt.Sprintf("RabbitMQ at %s, exchange and queues %s* (deleted at the end)", redact(b.url), b.exchange)
}

func (b *rabbitBroker) name() string { return "RabbitMQ" }

func (b *rabbitBroker) copies() string {
	return "RabbitMQ keeps the copy, and the processor's inbox will skip it"
}

func (b *rabbitBroker) publisher() (outbox.Publisher, error) { return b.pub, nil }

func (b *rabbitBroker) source() (consume.Source, error) {
	return rabbitconsume.New(rabbitconsume.Config{
		URL:             b.url,
		Queue:           b.queue,
		Bindings:        []rabbitconsume.Binding{{Exchange: b.exchange, Key: "orders.created"}},
		DeadLetterQueue: b.dead,
		RetryTiers:      rabbitRetryTiers,
		Name:            "order-processor",
	})
}

func (b *rabbitBroker) deadLetterSink() retry.DeadLetterSink[consume.Message] { return b.sink }

func (b *rabbitBroker) deadLetters(ctx context.Context) (int, error) {
	letters, err := b.letters.List(ctx, 10_000)
	return len(letters), err
}

// messages takes what the audit queue holds and counts the distinct
// message IDs it has seen there.
func (b *rabbitBroker) messages(context.Context) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, err := b.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	for {
		d, ok, err := ch.Get(b.audit, true)
		if err != nil {
			return 0, fmt.Errorf("reading queue %s: %w", b.audit, err)
		}
		if !ok {
			return len(b.seen), nil
		}
		m, err := rabbitoutbox.Decode(d)
		if err != nil {
			return 0, err
		}
		b.seen[m.ID.String()] = true
	}
}

// close deletes the run's queues and exchange and disconnects.
func (b *rabbitBroker) close() {
	if b.pub != nil {
		_ = b.pub.Close()
	}
	if b.sink != nil {
		_ = b.sink.Close()
	}
	if b.letters != nil {
		_ = b.letters.Close()
	}
	// A channel each: an error (a retry queue never declared, on a
	// server that refuses to delete a missing queue) closes its channel.
	del := func(f func(*amqp.Channel) error) {
		if ch, err := b.conn.Channel(); err == nil {
			_ = f(ch)
			_ = ch.Close()
		}
	}
	for _, q := range b.declaredQueues {
		del(func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
	}
	if b.declaredExchange {
		del(func(ch *amqp.Channel) error { return ch.ExchangeDelete(b.exchange, false, false) })
	}
	_ = b.conn.Close()
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unreadable URL)"
	}
	return u.Redacted()
}
