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
// fail at once with rabbitmq.ErrConnectionLost (which means only that), and
// the next Publish connects again. While the broker blocks publishers (a memory or disk
// alarm), Publish waits for it to unblock, or for its context, rather than
// write to a connection the broker has stopped reading.
//
// # What a message may hold
//
// Header values (and the key, sent as a header) are AMQP long strings:
// every byte reaches the consumer, NUL bytes and invalid UTF-8 included. A
// message that cannot be sent as it is fails alone, before anything is
// written, with an error matching outbox.ErrInvalidMessage (and
// rabbitmq.ErrInvalid): a routing key or header name over AMQP's 255
// bytes, properties and headers over the connection's frame_max (128 KiB
// unless the broker or Dial says otherwise), a payload over
// Config.MaxMessageSize, a header name starting with "bulwark-". Sent, it
// would make amqp091 or the broker close the connection, failing every
// publish in flight on it; the relay would retry it and kill the
// connection again each time. Refused, it is dead-lettered at once.
// Check says the same before Enqueue.
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
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/confirm"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The headers rabbitoutbox sets besides the message's own. Header names
// starting with "bulwark-" (in any case) are rabbitoutbox's: Publish refuses
// a message with one, and Decode does not return them.
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

// Config configures a Publisher. The zero Config is the default
// (DefaultConfig): a broker on this machine, the default exchange, each
// message's topic as its routing key; every zero field means its default.
type Config struct {
	// URL is the broker's AMQP URL (amqp://user:pass@host:5672/vhost); ""
	// with no Dial means rabbitmq.DefaultURL, a broker on this machine.
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
	// MaxMessageSize is the largest payload Publish sends, in bytes, in
	// [1, 512 MiB]; 0 means 16 MiB, RabbitMQ 4's default max_message_size.
	// Set the broker's max_message_size when it differs (RabbitMQ 3
	// defaults to 128 MiB): the broker closes the channel on a larger
	// message, failing every publish in flight on it.
	MaxMessageSize int
}

// Publisher is an outbox.Publisher for RabbitMQ. It is safe for
// concurrent use; Close it when done. A Publisher made without New panics
// from every method.
type Publisher struct {
	pub        *confirm.Publisher
	exchange   string
	routingKey func(outbox.Message) string
}

// DefaultConfig returns the defaults a zero Config stands for.
func DefaultConfig() Config {
	return Config{URL: confirm.DefaultURL, RoutingKey: func(m outbox.Message) string { return m.Topic }, MaxMessageSize: confirm.DefaultMaxBody}
}

var (
	_ outbox.Publisher = (*Publisher)(nil)
	_ outbox.Checker   = (*Publisher)(nil)
)

// New returns a Publisher, or an error naming the first invalid setting;
// it connects on the first Publish.
func New(cfg Config) (*Publisher, error) {
	dial, err := confirm.ChooseDialer("rabbitoutbox", "Config", cfg.URL, cfg.Dial)
	if err != nil {
		return nil, err
	}
	if cfg.MaxMessageSize < 0 || cfg.MaxMessageSize > 512<<20 {
		return nil, fmt.Errorf("rabbitoutbox: Config.MaxMessageSize must be 0 (meaning 16 MiB) or in [1, 512 MiB], got %d", cfg.MaxMessageSize)
	}
	if len(cfg.Exchange) > 255 {
		return nil, fmt.Errorf("rabbitoutbox: Config.Exchange must be at most 255 bytes, got %d", len(cfg.Exchange))
	}
	maxBody := cfg.MaxMessageSize
	if maxBody == 0 {
		maxBody = confirm.DefaultMaxBody
	}
	key := cfg.RoutingKey
	if key == nil {
		key = func(m outbox.Message) string { return m.Topic }
	}
	return &Publisher{pub: confirm.New("rabbitoutbox", dial, maxBody), exchange: cfg.Exchange, routingKey: key}, nil
}

func (p *Publisher) check() {
	if p == nil || p.pub == nil {
		panic("rabbitoutbox: Publisher used without New")
	}
}

// Publish publishes m and waits for the broker's confirmation. The
// message's ID goes out as the AMQP message-id, its headers as AMQP headers
// (string values, every byte kept) with the key, topic and creation time
// added, and its creation time also as the AMQP timestamp. It fails when
// the broker returns the message (unroutable), nacks it, or the connection
// dies first, and promptly with an error wrapping ctx.Err() when ctx is
// done.
//
// A message that cannot be published as it is fails alone, before anything
// is sent, with an error matching outbox.ErrInvalidMessage and
// rabbitmq.ErrInvalid: one that does not Validate, a header name starting
// with "bulwark-" or over 255 bytes, a routing key over 255 bytes, headers
// (the key, topic and creation time included) over the connection's
// frame_max (128 KiB by default), a payload over Config.MaxMessageSize.
func (p *Publisher) Publish(ctx context.Context, m outbox.Message) error {
	p.check()
	key, msg, err := p.encode(m)
	if err != nil {
		return err
	}
	if err := p.pub.Publish(ctx, p.exchange, key, msg); err != nil {
		if errors.Is(err, rabbitmq.ErrInvalid) {
			return invalid(m, err)
		}
		return fmt.Errorf("rabbitoutbox: publishing %s to exchange %q with routing key %.64q: %w", m.ID, p.exchange, key, err)
	}
	return nil
}

// Check returns the error Publish would return for m without sending it,
// or nil; headers are measured against the frame_max of the connection in
// use, or RabbitMQ's default (128 KiB) before the first.
func (p *Publisher) Check(m outbox.Message) error {
	p.check()
	key, msg, err := p.encode(m)
	if err != nil {
		return err
	}
	if err := p.pub.Check(p.exchange, key, msg); err != nil {
		return invalid(m, err)
	}
	return nil
}

// invalid is the error of m, which confirm refused with err.
func invalid(m outbox.Message, err error) error {
	size := 0
	for k, v := range m.Headers {
		size += len(k) + len(v)
	}
	return fmt.Errorf("rabbitoutbox: message %s (a key of %d bytes, headers of %d, a payload of %d): %w: %w",
		m.ID, len(m.Key), size, len(m.Payload), outbox.ErrInvalidMessage, err)
}

// encode checks what needs no connection and returns m's routing key and
// AMQP message.
func (p *Publisher) encode(m outbox.Message) (string, amqp.Publishing, error) {
	if err := m.Validate(); err != nil {
		return "", amqp.Publishing{}, fmt.Errorf("rabbitoutbox: message %s: %w", m.ID, err)
	}
	h := make(amqp.Table, len(m.Headers)+3)
	for k, v := range m.Headers {
		if reserved(k) {
			return "", amqp.Publishing{}, fmt.Errorf("rabbitoutbox: message %s: %w: the header name %.64q is reserved: bulwark- headers are rabbitoutbox's own",
				m.ID, outbox.ErrInvalidMessage, k)
		}
		h[k] = v
	}
	h[KeyHeader] = m.Key
	h[TopicHeader] = m.Topic
	h[CreatedAtHeader] = m.CreatedAt.UTC().Format(time.RFC3339Nano)
	return p.routingKey(m), amqp.Publishing{
		Headers:      h,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID.String(),
		Timestamp:    m.CreatedAt,
		Body:         m.Payload,
	}, nil
}

// reserved reports whether a header name is rabbitoutbox's.
func reserved(name string) bool {
	const prefix = "bulwark-"
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

// Close closes the Publisher's connection. Publishes waiting for a
// confirmation fail; later ones fail with rabbitmq.ErrClosed.
func (p *Publisher) Close() error {
	p.check()
	return p.pub.Close()
}
