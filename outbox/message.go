package outbox

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrInvalidMessage is wrapped by the error Enqueue returns for a message it
// cannot store (an empty topic, say).
var ErrInvalidMessage = errors.New("outbox: invalid message")

// Message is one event to deliver to the broker. Enqueue stores it in the
// caller's transaction; the Relay publishes it after that transaction commits.
type Message struct {
	// ID identifies the message. Publishers pass it on to the broker
	// (natsoutbox sets it as Nats-Msg-Id) so that a message published twice
	// (after a relay crash, say) can be recognised as one. Enqueue fills a
	// zero ID with a new version 7 UUID.
	ID uuid.UUID
	// Topic is where the message goes: a subject, topic or routing key.
	// It must not be empty.
	Topic string
	// Key is the ordering key, an aggregate or entity ID for instance. The
	// relay publishes messages with the same key one at a time, in the order
	// they were enqueued. Enqueue sets an empty key to ID.String(), so a
	// message without a key is ordered with nothing else.
	Key string
	// Payload is the message body, passed to the broker unchanged.
	Payload []byte
	// Headers are passed to the broker as message headers (nil for none).
	Headers map[string]string
	// CreatedAt is when the message was made; Enqueue fills a zero value
	// with the current time. The relay's lag is measured from it.
	CreatedAt time.Time
}

// NewMessage returns a message with a new version 7 UUID (time-ordered, so
// database indexes on it stay compact) and CreatedAt set to now.
func NewMessage(topic, key string, payload []byte) Message {
	return Message{ID: uuid.Must(uuid.NewV7()), Topic: topic, Key: key, Payload: payload, CreatedAt: time.Now()}
}

// Prepare readies msgs for storing: it fills a zero ID, an empty Key and a
// zero CreatedAt (with now) in place, and rejects a message without a Topic
// with an error wrapping ErrInvalidMessage. Store drivers call it at the
// start of Enqueue.
func Prepare(msgs []Message, now time.Time) error {
	for i := range msgs {
		m := &msgs[i]
		if m.Topic == "" {
			return fmt.Errorf("%w: message %d has an empty Topic", ErrInvalidMessage, i)
		}
		if m.ID == uuid.Nil {
			id, err := uuid.NewV7()
			if err != nil {
				return fmt.Errorf("outbox: making a message ID: %w", err)
			}
			m.ID = id
		}
		if m.Key == "" {
			m.Key = m.ID.String()
		}
		if m.CreatedAt.IsZero() {
			m.CreatedAt = now
		}
	}
	return nil
}
