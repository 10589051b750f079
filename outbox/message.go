package outbox

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// ErrInvalidMessage matches (with errors.Is) every error by which a message
// was refused because of what it holds, not because something failed:
//
//   - Enqueue (every store, through Prepare) refuses a message whose Topic,
//     Key or header names are not text as Message describes, before
//     anything is written;
//   - a Publisher refuses a message its broker cannot carry as it is: an
//     oversized header, a subject with a wildcard, a payload over the
//     broker's limit. Such a message fails alone, the publisher stays
//     usable, and the Relay dead-letters it at once instead of retrying
//     it: publishing it again cannot succeed.
var ErrInvalidMessage = errors.New("outbox: invalid message")

// ErrNotAnOutboxMessage is wrapped by the error a publisher package's Decode
// returns for a broker message that no outbox publisher sent (it lacks the
// message ID the publisher adds). natsoutbox, kafkaoutbox and rabbitoutbox
// all use it.
var ErrNotAnOutboxMessage = errors.New("outbox: not an outbox message")

// Message is one event to deliver to the broker. Enqueue stores it in the
// caller's transaction; the Relay publishes it after that transaction commits.
//
// Payload and header values are bytes: any bytes, empty, with NUL or not
// valid UTF-8, are stored and published exactly as given. Topic, Key and
// header names are text: valid UTF-8 without NUL bytes (Enqueue refuses
// anything else with an error matching ErrInvalidMessage), and are stored
// exactly as given too. A Publisher may refuse what its broker cannot carry
// (see ErrInvalidMessage); each publisher package documents its limits.
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
	// Names must not be empty.
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

// Validate returns an error matching ErrInvalidMessage when m cannot be
// stored: an empty Topic, or a Topic, Key or header name that is not valid
// UTF-8 or holds a NUL byte, or an empty header name. An empty Key and a
// zero ID or CreatedAt are valid (Prepare fills them).
func (m Message) Validate() error {
	if why := m.invalid(); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, why)
	}
	return nil
}

// invalid says what makes m invalid, or "".
func (m Message) invalid() string {
	if m.Topic == "" {
		return "the Topic is empty"
	}
	if why := notText("Topic", m.Topic); why != "" {
		return why
	}
	if why := notText("Key", m.Key); why != "" {
		return why
	}
	for name := range m.Headers {
		if why := badHeaderName(name); why != "" {
			return why
		}
	}
	return ""
}

// badHeaderName says why name cannot be a header name, or "".
func badHeaderName(name string) string {
	if name == "" {
		return "a header name is empty"
	}
	return notText("header name", name)
}

// notText says why s is not valid UTF-8 without NUL bytes, or "".
func notText(what, s string) string {
	switch {
	case !utf8.ValidString(s):
		return fmt.Sprintf("the %s %.64q (%d bytes) is not valid UTF-8", what, s, len(s))
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Sprintf("the %s %.64q (%d bytes) holds a NUL byte", what, s, len(s))
	}
	return ""
}

// Prepare readies msgs for storing: it fills a zero ID, an empty Key and a
// zero CreatedAt (with now) in place, and refuses the first message that
// does not Validate with an error matching ErrInvalidMessage that says
// which message (by index) and why. Store drivers call it at the start of
// Enqueue, before writing anything.
func Prepare(msgs []Message, now time.Time) error {
	for i := range msgs {
		m := &msgs[i]
		if why := m.invalid(); why != "" {
			return fmt.Errorf("%w: message %d: %s", ErrInvalidMessage, i, why)
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
