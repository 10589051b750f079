package consume

import (
	"context"
	"time"
)

// Message is one message as a handler sees it, whatever the broker.
type Message struct {
	// ID identifies the message across redeliveries and duplicates: the
	// outbox message ID when an outbox publisher sent it (natsoutbox,
	// kafkaoutbox, rabbitoutbox), otherwise an ID the Source documents.
	// Idempotent inboxes deduplicate on it.
	ID string
	// Key is the ordering key (the outbox message's Key, a Kafka record
	// key). Messages with the same non-empty Key are handled one at a time,
	// in the order received; an empty Key is ordered with nothing else.
	Key string
	// Topic is where the message came from: a subject, topic or queue.
	Topic string
	// Payload is the message body.
	Payload []byte
	// Headers are the message's own headers, without the ones bulwark's
	// publishers and sources add for themselves (nil for none).
	Headers map[string]string
	// Attempt counts deliveries of this message, from 1: the broker's
	// count as the Source reports it (a release counts where the broker
	// counts it), plus one for each redelivery the Consumer makes in
	// process for a keyed message. In-place retries (Config.
	// InPlaceAttempts) run within one delivery and keep it.
	Attempt int
	// PublishedAt is when the message was made or published, as the broker
	// or the outbox recorded it; zero when unknown.
	PublishedAt time.Time
	// Metadata is the Source's own view of the message (a
	// *natsconsume.Metadata, a *kgo.Record, an amqp.Delivery), for
	// handlers that need it; nil from MemorySource. encoding/json leaves it
	// out, so that a dead-letter sink's default JSON encoding of a Message
	// does not depend on (or fail on) a broker client's types.
	Metadata any `json:"-"`
}

// Handler handles one message. nil means done: the message is acknowledged.
// An error means the message failed and is retried as the Consumer's Config
// says, unless it wraps Permanent, which dead-letters it at once.
type Handler interface {
	Handle(ctx context.Context, m *Message) error
}

// HandlerFunc makes a function a Handler.
type HandlerFunc func(ctx context.Context, m *Message) error

// Handle calls f(ctx, m).
func (f HandlerFunc) Handle(ctx context.Context, m *Message) error { return f(ctx, m) }

// Middleware wraps a Handler in behaviour of its own.
type Middleware func(Handler) Handler
