package confirm

import (
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// maxShortstr is the longest AMQP short string: exchange names, routing
// keys, header (table field) names and most message properties.
const maxShortstr = 255

// check returns an error wrapping ErrInvalid when msg cannot be published
// to exchange with key as it is: a short string over 255 bytes, a header
// value of a type AMQP has no encoding for, a content header frame (the
// properties, headers included) larger than frameMax (when > 0), or a body
// larger than maxBody (when > 0). amqp091 would fail to encode the first
// two and shut the connection down; the broker closes the connection on
// the third (frame_too_large) and the channel on the fourth: either way
// every publish in flight on it fails.
func check(exchange, key string, msg amqp.Publishing, frameMax, maxBody int) error {
	for _, s := range []struct{ what, v string }{
		{"exchange name", exchange}, {"routing key", key}, {"content-type", msg.ContentType},
		{"content-encoding", msg.ContentEncoding}, {"correlation-id", msg.CorrelationId}, {"reply-to", msg.ReplyTo},
		{"expiration", msg.Expiration}, {"message-id", msg.MessageId}, {"type", msg.Type}, {"user-id", msg.UserId},
		{"app-id", msg.AppId},
	} {
		if len(s.v) > maxShortstr {
			return fmt.Errorf("%w: the %s %.64q is %d bytes, over AMQP's %d", ErrInvalid, s.what, s.v, len(s.v), maxShortstr)
		}
	}
	size := 7 + 2 + 2 + 8 + 2 + 1 // frame header, class, weight, body size, property flags, frame end
	for _, s := range []string{msg.ContentType, msg.ContentEncoding, msg.CorrelationId, msg.ReplyTo, msg.Expiration,
		msg.MessageId, msg.Type, msg.UserId, msg.AppId} {
		if s != "" {
			size += 1 + len(s)
		}
	}
	if msg.DeliveryMode > 0 {
		size++
	}
	if msg.Priority > 0 {
		size++
	}
	if !msg.Timestamp.IsZero() {
		size += 8
	}
	if len(msg.Headers) > 0 {
		n, err := tableSize(msg.Headers)
		if err != nil {
			return err
		}
		size += n
	}
	if frameMax > 0 && size > frameMax {
		return fmt.Errorf("%w: its properties and headers take a frame of %d bytes, over the connection's frame_max of %d", ErrInvalid, size, frameMax)
	}
	if maxBody > 0 && len(msg.Body) > maxBody {
		return fmt.Errorf("%w: its body (payload) of %d bytes is over the largest message of %d bytes", ErrInvalid, len(msg.Body), maxBody)
	}
	return nil
}

// tableSize returns the size of t as amqp091 writes it, or an error for a
// name over 255 bytes or a value AMQP cannot hold.
func tableSize(t amqp.Table) (int, error) {
	n := 4
	for name, v := range t {
		if len(name) > maxShortstr {
			return 0, fmt.Errorf("%w: the header name %.64q is %d bytes, over AMQP's %d", ErrInvalid, name, len(name), maxShortstr)
		}
		f, err := fieldSize(name, v)
		if err != nil {
			return 0, err
		}
		n += 1 + len(name) + f
	}
	return n, nil
}

// fieldSize returns the size of v, a value of the header name, as amqp091
// writes it (with its type byte).
func fieldSize(name string, v any) (int, error) {
	switch v := v.(type) {
	case nil:
		return 1, nil
	case bool, byte, int8:
		return 2, nil
	case int16, uint16:
		return 3, nil
	case int, int32, uint32, float32:
		return 5, nil
	case amqp.Decimal:
		return 6, nil
	case int64, float64, time.Time:
		return 9, nil
	case string:
		return 5 + len(v), nil
	case []byte:
		return 5 + len(v), nil
	case amqp.Table:
		n, err := tableSize(v)
		return 1 + n, err
	case []any:
		n := 5
		for _, e := range v {
			f, err := fieldSize(name, e)
			if err != nil {
				return 0, err
			}
			n += f
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: the header %.64q holds a %T, which AMQP cannot carry", ErrInvalid, name, v)
}
