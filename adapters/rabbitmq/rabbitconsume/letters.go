package rabbitconsume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/confirm"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Letter is a dead letter of a consume message, as List and Replay read it.
type Letter = rabbitdlq.Letter[consume.Message]

// SinkConfig returns the rabbitdlq.Config of a Sink for consume.Config's
// DeadLetters: letters go to queue through the default exchange, each
// message encoded with EncodeLetter. Declare queue first (Config's
// DeadLetterQueue does), and set Dial instead of URL if you need to:
//
//	sink, err := rabbitdlq.New(rabbitconsume.SinkConfig(url, "orders.dead"))
func SinkConfig(url, queue string) rabbitdlq.Config[consume.Message] {
	return rabbitdlq.Config[consume.Message]{URL: url, RoutingKey: queue, Encode: EncodeLetter, ContentType: "application/json"}
}

// letter is the JSON a dead letter's body holds.
type letter struct {
	ID          exact      `json:"id"`
	Key         exact      `json:"key,omitempty"`
	Topic       exact      `json:"topic,omitempty"`
	Headers     [][2]exact `json:"headers,omitempty"` // name, value; sorted by name
	Attempt     int        `json:"attempt"`
	PublishedAt time.Time  `json:"published_at,omitzero"`
	Payload     []byte     `json:"payload"`
}

// exact is a string that survives JSON byte for byte: a JSON string when
// it is valid UTF-8, otherwise {"base64": "…"}.
type exact string

func (s exact) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(s)) {
		return json.Marshal(string(s))
	}
	return json.Marshal(struct {
		Base64 []byte `json:"base64"`
	}{[]byte(s)})
}

func (s *exact) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			Base64 []byte `json:"base64"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = exact(v.Base64)
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = exact(v)
	return nil
}

// EncodeLetter encodes a consume message as a dead letter's body: JSON
// with its id, key, topic, headers, attempt, publication time and payload
// (base64). Every byte of every field is kept (a string that is not UTF-8
// is written as {"base64": …}); Metadata is left out.
func EncodeLetter(m consume.Message) ([]byte, error) {
	l := letter{ID: exact(m.ID), Key: exact(m.Key), Topic: exact(m.Topic), Attempt: m.Attempt, PublishedAt: m.PublishedAt, Payload: m.Payload}
	if l.Payload == nil {
		l.Payload = []byte{}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		l.Headers = append(l.Headers, [2]exact{exact(k), exact(m.Headers[k])})
	}
	return json.Marshal(l)
}

// DecodeLetter decodes what EncodeLetter encoded.
func DecodeLetter(b []byte) (consume.Message, error) {
	var l letter
	if err := json.Unmarshal(b, &l); err != nil {
		return consume.Message{}, fmt.Errorf("rabbitconsume: decoding a letter: %w", err)
	}
	if l.ID == "" {
		return consume.Message{}, errors.New("rabbitconsume: decoding a letter: no id")
	}
	m := consume.Message{ID: string(l.ID), Key: string(l.Key), Topic: string(l.Topic), Attempt: l.Attempt, PublishedAt: l.PublishedAt, Payload: l.Payload}
	if len(l.Headers) > 0 {
		m.Headers = make(map[string]string, len(l.Headers))
		for _, h := range l.Headers {
			m.Headers[string(h[0])] = string(h[1])
		}
	}
	return m, nil
}

// DeadLettersConfig configures DeadLetters. Set URL or Dial, Queue and
// ReplayTo.
type DeadLettersConfig struct {
	// URL is the broker's AMQP URL (amqp://user:pass@host:5672/vhost); ""
	// with no Dial means rabbitmq.DefaultURL, a broker on this machine.
	URL string
	// Dial, instead of URL, opens a connection; it must return promptly
	// when ctx is done.
	Dial func(ctx context.Context) (*amqp.Connection, error)
	// Queue is the dead-letter queue, where a Sink made with SinkConfig
	// publishes. Required.
	Queue string
	// ReplayTo is the queue Replay publishes letters' messages to, through
	// the default exchange: the Source's Config.Queue. Required, and not
	// Queue.
	ReplayTo string
}

// DeadLetters lists the dead letters of consume messages in a queue and
// replays them into the queue they came from. It is safe for concurrent
// use; Close it when done. A DeadLetters made without NewDeadLetters panics
// from its methods.
type DeadLetters struct {
	dial     confirm.Dialer
	queue    string
	replayTo string
	pub      *confirm.Publisher
}

// NewDeadLetters returns a DeadLetters, or an error naming the first
// invalid setting. It connects when used.
func NewDeadLetters(cfg DeadLettersConfig) (*DeadLetters, error) {
	dial, err := confirm.ChooseDialer("rabbitconsume", "DeadLettersConfig", cfg.URL, cfg.Dial)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Queue == "" || len(cfg.Queue) > 255:
		return nil, fmt.Errorf("rabbitconsume: DeadLettersConfig.Queue must be 1 to 255 bytes, got %d", len(cfg.Queue))
	case cfg.ReplayTo == "" || len(cfg.ReplayTo) > 255:
		return nil, fmt.Errorf("rabbitconsume: DeadLettersConfig.ReplayTo must be 1 to 255 bytes, got %d", len(cfg.ReplayTo))
	case cfg.ReplayTo == cfg.Queue:
		return nil, fmt.Errorf("rabbitconsume: DeadLettersConfig.ReplayTo must not be the dead-letter queue %q", cfg.Queue)
	}
	return &DeadLetters{dial: dial, queue: cfg.Queue, replayTo: cfg.ReplayTo, pub: confirm.New("rabbitconsume", dial, 0)}, nil
}

func (l *DeadLetters) check() {
	if l == nil || l.pub == nil {
		panic("rabbitconsume: DeadLetters used without NewDeadLetters")
	}
}

// List returns up to max letters (max >= 1) from the head of the queue,
// oldest first, and leaves them there: it takes them unacknowledged and
// gives them back. A message in the queue that is not a letter is skipped,
// and named in the error returned beside the letters.
func (l *DeadLetters) List(ctx context.Context, max int) ([]Letter, error) {
	l.check()
	if max < 1 {
		return nil, fmt.Errorf("rabbitconsume: List: max must be >= 1, got %d", max)
	}
	var letters []Letter
	err := l.scan(ctx, func(d amqp.Delivery, lt Letter, err error) (bool, error) {
		if err == nil {
			letters = append(letters, lt)
		}
		return len(letters) < max, err
	})
	return letters, err
}

// Replay republishes the messages of up to max letters (max >= 1) for
// which match returns true (nil matches every letter), oldest first, to
// ReplayTo, and removes each letter once the broker has confirmed its
// message: a crash between the two leaves both, and replaying again
// publishes a duplicate, which the message's unchanged ID lets an inbox
// drop. The message keeps its ID, key, topic, headers, publication time
// and payload, as rabbitoutbox would publish it; its attempt starts again
// at 1. Letters not matched, and messages that are not letters, stay in
// the queue in their order. It returns how many it replayed.
func (l *DeadLetters) Replay(ctx context.Context, max int, match func(Letter) bool) (int, error) {
	l.check()
	if max < 1 {
		return 0, fmt.Errorf("rabbitconsume: Replay: max must be >= 1, got %d", max)
	}
	n := 0
	err := l.scan(ctx, func(d amqp.Delivery, lt Letter, err error) (bool, error) {
		if err != nil || (match != nil && !match(lt)) {
			return true, err
		}
		m := lt.Item
		if err := l.pub.Publish(ctx, "", l.replayTo, replayed(m)); err != nil {
			return false, fmt.Errorf("rabbitconsume: replaying message %s to %q: %w", m.ID, l.replayTo, err)
		}
		if err := d.Ack(false); err != nil {
			return false, fmt.Errorf("rabbitconsume: removing the letter of replayed message %s (it stays; replaying it again publishes it again): %w", m.ID, err)
		}
		n++
		return n < max, nil
	})
	return n, err
}

// replayed is the message Replay publishes for m.
func replayed(m consume.Message) amqp.Publishing {
	h := make(amqp.Table, len(m.Headers)+3)
	for k, v := range m.Headers {
		if !reserved(k) {
			h[k] = v
		}
	}
	h[rabbitoutbox.KeyHeader] = m.Key
	h[rabbitoutbox.TopicHeader] = m.Topic
	if !m.PublishedAt.IsZero() {
		h[rabbitoutbox.CreatedAtHeader] = m.PublishedAt.UTC().Format(time.RFC3339Nano)
	}
	return amqp.Publishing{Headers: h, DeliveryMode: amqp.Persistent, MessageId: m.ID, Timestamp: m.PublishedAt, Body: m.Payload}
}

// scan takes the queue's messages one at a time, unacknowledged, and
// passes each to visit (with its decoding error, if any) until visit says
// stop, the queue has no more ready messages or ctx ends. The messages
// visit did not acknowledge go back to the queue, in their order, when
// scan returns. The errors of visit are joined.
func (l *DeadLetters) scan(ctx context.Context, visit func(amqp.Delivery, Letter, error) (bool, error)) error {
	conn, err := l.dial(ctx)
	if err != nil {
		return fmt.Errorf("rabbitconsume: connecting to RabbitMQ: %w", err)
	}
	defer conn.Close() // gives back what was not acknowledged
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("rabbitconsume: opening a channel: %w", err)
	}
	var errs []error
	for {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, fmt.Errorf("rabbitconsume: %w", err))...)
		}
		d, ok, err := ch.Get(l.queue, false)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("rabbitconsume: reading dead-letter queue %q: %w", l.queue, err))...)
		}
		if !ok {
			break
		}
		lt, err := rabbitdlq.Decode(d, DecodeLetter)
		if err != nil {
			err = fmt.Errorf("rabbitconsume: message %q of dead-letter queue %q is left there: %w", d.MessageId, l.queue, err)
		}
		more, err := visit(d, lt, err)
		if err != nil {
			errs = append(errs, err)
		}
		if !more {
			break
		}
	}
	// Give the rest back now, in their order, rather than when the
	// connection closes.
	if err := ch.Nack(0, true, true); err != nil && !errors.Is(err, amqp.ErrClosed) {
		errs = append(errs, fmt.Errorf("rabbitconsume: returning letters to %q: %w", l.queue, err))
	}
	return errors.Join(errs...)
}

// Close closes the connection Replay publishes on.
func (l *DeadLetters) Close() error {
	l.check()
	return l.pub.Close()
}
