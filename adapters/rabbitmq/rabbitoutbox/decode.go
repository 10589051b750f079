package rabbitoutbox

import (
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Decode turns a delivery of a message rabbitoutbox published back into an
// outbox.Message, for consumers. The Topic is the topic header, or the
// routing key when it is missing; every other string header but those
// named bulwark-… becomes a Header (headers of other types, such as the
// broker's x-death, are left out). A delivery whose message-id is not a
// UUID is rejected with an error wrapping outbox.ErrNotAnOutboxMessage.
func Decode(d amqp.Delivery) (outbox.Message, error) {
	id, err := uuid.Parse(d.MessageId)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("rabbitoutbox: %w: message-id %q: %w", outbox.ErrNotAnOutboxMessage, d.MessageId, err)
	}
	m := outbox.Message{ID: id, Topic: d.RoutingKey, Payload: d.Body}
	for k, v := range d.Headers {
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch k {
		case KeyHeader:
			m.Key = s
		case TopicHeader:
			m.Topic = s
		case CreatedAtHeader:
			if m.CreatedAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return outbox.Message{}, fmt.Errorf("rabbitoutbox: message %s: bad %s %q: %w", id, CreatedAtHeader, s, err)
			}
		default:
			if reserved(k) {
				continue
			}
			if m.Headers == nil {
				m.Headers = make(map[string]string, len(d.Headers))
			}
			m.Headers[k] = s
		}
	}
	return m, nil
}
