package rabbitdlq

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrNotADeadLetter is wrapped by Decode's error for a delivery that
// rabbitdlq did not publish (no attempt count or history).
var ErrNotADeadLetter = errors.New("rabbitdlq: not a dead letter")

// Letter is a dead letter as read from the queue.
type Letter[T any] struct {
	// ID is the letter's AMQP message-id, unique to each letter.
	ID string
	// Item is the decoded item.
	Item T
	// Err is the text of the error the retrier gave up with.
	Err string
	// AttemptCount is the number of attempts made; Attempts holds the
	// last of them (all of them, unless there were more than 200).
	AttemptCount int
	// Attempts is the history of the attempts, oldest first.
	Attempts []Attempt
	// DeadAt is when the letter was published, to the second.
	DeadAt time.Time
}

// Attempt is one attempt of a Letter, its error as text.
type Attempt struct {
	Number   int
	Start    time.Time
	Duration time.Duration
	Delay    time.Duration
	Err      string
}

// Decode reads a letter from a delivery of the dead-letter queue, decoding
// the item with decode (nil means encoding/json). A delivery without the
// headers rabbitdlq sets is rejected with an error wrapping
// ErrNotADeadLetter.
func Decode[T any](d amqp.Delivery, decode func([]byte) (T, error)) (Letter[T], error) {
	l := Letter[T]{ID: d.MessageId, DeadAt: d.Timestamp}
	count, ok := d.Headers[AttemptsHeader].(int64)
	if !ok {
		return l, fmt.Errorf("%w: no int64 %s header", ErrNotADeadLetter, AttemptsHeader)
	}
	history, ok := d.Headers[HistoryHeader].([]any)
	if !ok {
		return l, fmt.Errorf("%w: no %s header", ErrNotADeadLetter, HistoryHeader)
	}
	if count < int64(len(history)) {
		return l, fmt.Errorf("%w: %d attempts with a history of %d", ErrNotADeadLetter, count, len(history))
	}
	l.AttemptCount = int(count)
	l.Err, _ = d.Headers[ErrorHeader].(string)
	for i, h := range history {
		a, err := attempt(h)
		if err != nil {
			return l, fmt.Errorf("%w: attempt %d of the history: %w", ErrNotADeadLetter, i, err)
		}
		l.Attempts = append(l.Attempts, a)
	}
	if decode == nil {
		decode = func(b []byte) (T, error) {
			var item T
			err := json.Unmarshal(b, &item)
			return item, err
		}
	}
	item, err := decode(d.Body)
	if err != nil {
		return l, fmt.Errorf("rabbitdlq: decoding letter %s's item: %w", d.MessageId, err)
	}
	l.Item = item
	return l, nil
}

func attempt(v any) (Attempt, error) {
	t, ok := v.(amqp.Table)
	if !ok {
		return Attempt{}, fmt.Errorf("a %T, not a table", v)
	}
	number, ok1 := t["number"].(int64)
	start, ok2 := t["start"].(string)
	duration, ok3 := t["duration-ns"].(int64)
	delay, ok4 := t["delay-ns"].(int64)
	text, ok5 := t["error"].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return Attempt{}, fmt.Errorf("missing or mistyped fields in %v", t)
	}
	at, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		return Attempt{}, fmt.Errorf("bad start: %w", err)
	}
	return Attempt{Number: int(number), Start: at, Duration: time.Duration(duration), Delay: time.Duration(delay), Err: text}, nil
}
