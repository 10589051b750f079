// Package rabbitoutbox publishes outbox messages to RabbitMQ: an
// outbox.Publisher for the transactional outbox's Relay, and Decode for
// consumers.
//
// # Delivery
//
// Publish succeeds only once the broker has confirmed the message (publisher
// confirms): for a durable queue, once the message is stored there. Each
// message is published persistent and mandatory, so a message no queue is
// bound for comes back from the broker and Publish fails with an error
// matching rabbitmq.ErrUnroutable: the relay retries it and, after
// outbox.Config.MaxAttempts, keeps it as a dead letter, instead of
// forgetting a message nobody received. A nack fails with
// rabbitmq.ErrNacked.
//
// The Publisher opens its own connection on first use. When the connection
// or channel dies (a broker restart, a network cut, a channel error such as
// publishing to a missing exchange), publishes waiting for a confirmation
// fail at once with rabbitmq.ErrConnectionLost, and the next Publish
// connects again. While the broker blocks publishers (a memory or disk
// alarm), Publish waits for it to unblock, or for its context, rather than
// write to a connection the broker has stopped reading.
//
// # Duplicates
//
// RabbitMQ does not drop duplicates. A message is published again when a
// relay crashes after the broker confirmed it but before the outbox recorded
// that, and when a connection dies after the broker stored a message but
// before its confirmation arrived. Each message carries its outbox ID as the
// AMQP message-id, so consumers drop the copies: Decode the delivery and
// process it through an idempotency.Inbox keyed by the ID.
//
// # Ordering
//
// RabbitMQ keeps the order in which one channel published messages within
// each queue they reach. The relay publishes a key's messages one at a
// time and waits for each confirmation before the next, so a queue receives
// each key's messages in outbox order, also across reconnects and across
// several relays. A copy published again (see Duplicates) may arrive after
// later messages of other keys, never before earlier ones of its own key.
// Consumers keep the order only if one of them takes a queue's messages at
// a time (a single consumer, or a queue with x-single-active-consumer) and
// none are requeued; to spread keys over consumers in order, route by key
// (a consistent-hash exchange) to queues each with a single active
// consumer.
package rabbitoutbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/confirm"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The headers rabbitoutbox sets besides the message's own.
const (
	// KeyHeader carries outbox.Message.Key.
	KeyHeader = "bulwark-key"
	// TopicHeader carries outbox.Message.Topic (the routing key may be
	// mapped from it).
	TopicHeader = "bulwark-topic"
	// CreatedAtHeader carries outbox.Message.CreatedAt (RFC 3339 with
	// nanoseconds; the AMQP timestamp property holds it in whole seconds).
	CreatedAtHeader = "bulwark-created-at"
)

// ErrNotAnOutboxMessage is wrapped by Decode's error for a delivery that
// rabbitoutbox did not publish (no UUID message-id).
var ErrNotAnOutboxMessage = errors.New("rabbitoutbox: not an outbox message")

// Config configures a Publisher. Set URL or Dial.
type Config struct {
	// URL is the broker's AMQP URL (amqp://user:pass@host:5672/vhost).
	URL string
	// Dial, instead of URL, opens a connection (for TLS or other
	// settings); it must return promptly when ctx is done, and must not
	// enable amqp091's automatic Recovery (the Publisher reconnects
	// itself). The Publisher closes the connections it dialed.
	Dial func(ctx context.Context) (*amqp.Connection, error)
	// Exchange is the exchange to publish to; "" is the default exchange,
	// where the routing key names the queue.
	Exchange string
	// RoutingKey returns a message's routing key; nil means its Topic.
	RoutingKey func(outbox.Message) string
}

// Publisher is an outbox.Publisher for RabbitMQ. It is safe for
// concurrent use; Close it when done.
type Publisher struct {
	pub        *confirm.Publisher
	exchange   string
	routingKey func(outbox.Message) string
}

var _ outbox.Publisher = (*Publisher)(nil)

// New returns a Publisher; it connects on the first Publish.
func New(cfg Config) (*Publisher, error) {
	dial, err := dialer("rabbitoutbox", cfg.URL, cfg.Dial)
	if err != nil {
		return nil, err
	}
	key := cfg.RoutingKey
	if key == nil {
		key = func(m outbox.Message) string { return m.Topic }
	}
	return &Publisher{pub: confirm.New("rabbitoutbox", dial), exchange: cfg.Exchange, routingKey: key}, nil
}

func dialer(name, url string, dial func(context.Context) (*amqp.Connection, error)) (confirm.Dialer, error) {
	switch {
	case url == "" && dial == nil:
		return nil, fmt.Errorf("%s: Config.URL or Config.Dial must be set", name)
	case url != "" && dial != nil:
		return nil, fmt.Errorf("%s: set Config.URL or Config.Dial, not both", name)
	case dial != nil:
		return dial, nil
	}
	if _, err := amqp.ParseURI(url); err != nil {
		return nil, fmt.Errorf("%s: Config.URL: %w", name, err)
	}
	return confirm.DialURL(url), nil
}

// Publish publishes m and waits for the broker's confirmation. The
// message's ID goes out as the AMQP message-id, its headers as AMQP headers
// (string values) with the key, topic and creation time added, and its
// creation time also as the AMQP timestamp. It fails when the broker returns
// the message (unroutable), nacks it, or the connection dies first, and
// promptly with an error wrapping ctx.Err() when ctx is done.
func (p *Publisher) Publish(ctx context.Context, m outbox.Message) error {
	key := p.routingKey(m)
	h := make(amqp.Table, len(m.Headers)+3)
	for k, v := range m.Headers {
		h[k] = v
	}
	h[KeyHeader] = m.Key
	h[TopicHeader] = m.Topic
	h[CreatedAtHeader] = m.CreatedAt.UTC().Format(time.RFC3339Nano)
	msg := amqp.Publishing{
		Headers:      h,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID.String(),
		Timestamp:    m.CreatedAt,
		Body:         m.Payload,
	}
	if err := p.pub.Publish(ctx, p.exchange, key, msg); err != nil {
		return fmt.Errorf("rabbitoutbox: publishing %s to exchange %q with routing key %q: %w", m.ID, p.exchange, key, err)
	}
	return nil
}

// Close closes the Publisher's connection. Publishes waiting for a
// confirmation fail; later ones fail with rabbitmq.ErrClosed.
func (p *Publisher) Close() error { return p.pub.Close() }
