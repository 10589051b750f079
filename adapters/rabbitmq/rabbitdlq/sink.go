// Package rabbitdlq keeps dead letters in a RabbitMQ queue: a
// retry.DeadLetterSink that publishes each letter (the item, encoded, as the
// body; the final error and the history of every attempt as headers), and
// Decode, for the program that inspects or reprocesses the queue.
//
// A letter counts as stored only once the broker has confirmed it: the
// sink publishes persistent and mandatory on a confirming channel, so a
// routing key that no queue is bound for is an error matching
// rabbitmq.ErrUnroutable, not a letter silently dropped. When DeadLetter
// fails, retry.Handler returns the error and the message stays with its
// consumer for redelivery. The sink opens its own connection on first use
// and reconnects on the next call after it dies; a letter whose
// confirmation was lost with the connection may be stored twice (each
// letter has its own message-id).
//
// Declare the dead-letter queue (durable) and its binding before use; the
// sink declares nothing.
package rabbitdlq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/confirm"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The headers of a dead letter.
const (
	// ErrorHeader holds the text of the error the retrier gave up with.
	ErrorHeader = "bulwark-error"
	// AttemptsHeader holds the number of attempts (an int64).
	AttemptsHeader = "bulwark-attempts"
	// HistoryHeader holds the attempts, oldest first: an array of tables
	// with number (int64), start (RFC 3339 with nanoseconds),
	// duration-ns and delay-ns (int64) and error (a string).
	HistoryHeader = "bulwark-attempt-history"
)

// Limits that keep a letter's headers inside one AMQP frame (RabbitMQ's
// frame_max is 128 KiB by default): the history keeps the last
// maxHistory attempts (AttemptsHeader still counts them all), and error
// texts are cut, at a character boundary, to maxErrorBytes for the final
// error and to between 256 bytes and 4 KiB for each attempt, sharing
// 48 KiB among them.
const (
	maxHistory      = 200
	maxErrorBytes   = 8 << 10
	historyBudget   = 48 << 10
	minAttemptBytes = 256
	maxAttemptBytes = 4 << 10
	cutMark         = "…(cut)"
)

// DefaultRoutingKey is Config.RoutingKey when it is empty: with the default
// exchange, the queue named "dead-letters".
const DefaultRoutingKey = "dead-letters"

// Config configures a Sink for items of type T. The zero Config is the
// default (DefaultConfig): letters to the queue "dead-letters" of a broker
// on this machine, encoded as JSON.
type Config[T any] struct {
	// URL is the broker's AMQP URL (amqp://user:pass@host:5672/vhost); ""
	// with no Dial means rabbitmq.DefaultURL, a broker on this machine.
	URL string
	// Dial, instead of URL, opens a connection (for TLS or other
	// settings); it must return promptly when ctx is done, and must not
	// enable amqp091's automatic Recovery (the Sink reconnects itself).
	Dial func(ctx context.Context) (*amqp.Connection, error)
	// Exchange is the exchange to publish to; "" is the default exchange,
	// where RoutingKey names the queue.
	Exchange string
	// RoutingKey routes every letter, at most 255 bytes; "" means
	// DefaultRoutingKey.
	RoutingKey string
	// Encode turns an item into the letter's body; nil means encoding/json.
	Encode func(T) ([]byte, error)
	// ContentType is the letters' AMQP content type; "" means
	// "application/json" when Encode is nil, and none otherwise.
	ContentType string
}

// DefaultConfig returns the defaults a zero Config stands for.
func DefaultConfig[T any]() Config[T] {
	return Config[T]{URL: confirm.DefaultURL, RoutingKey: DefaultRoutingKey, ContentType: "application/json"}
}

// Sink is a retry.DeadLetterSink that publishes letters to RabbitMQ. It is
// safe for concurrent use; Close it when done. A Sink made without New
// panics from its methods.
type Sink[T any] struct {
	pub         *confirm.Publisher
	exchange    string
	key         string
	encode      func(T) ([]byte, error)
	contentType string
}

var _ retry.DeadLetterSink[int] = (*Sink[int])(nil)

// New returns a Sink; it connects on the first DeadLetter.
func New[T any](cfg Config[T]) (*Sink[T], error) {
	dial, err := confirm.ChooseDialer("rabbitdlq", "Config", cfg.URL, cfg.Dial)
	if err != nil {
		return nil, err
	}
	if cfg.RoutingKey == "" {
		cfg.RoutingKey = DefaultRoutingKey
	}
	switch {
	case len(cfg.Exchange) > 255:
		return nil, fmt.Errorf("rabbitdlq: Config.Exchange must be at most 255 bytes, got %d", len(cfg.Exchange))
	case len(cfg.RoutingKey) > 255:
		return nil, fmt.Errorf("rabbitdlq: Config.RoutingKey must be at most 255 bytes, got %d", len(cfg.RoutingKey))
	}
	s := &Sink[T]{pub: confirm.New("rabbitdlq", dial, confirm.DefaultMaxBody), exchange: cfg.Exchange, key: cfg.RoutingKey, encode: cfg.Encode, contentType: cfg.ContentType}
	if s.encode == nil {
		s.encode = func(item T) ([]byte, error) { return json.Marshal(item) }
		if s.contentType == "" {
			s.contentType = "application/json"
		}
	}
	return s, nil
}

// DeadLetter publishes letter and returns nil once the broker has
// confirmed it. It fails when the item cannot be encoded, when the broker
// returns the letter (unroutable) or nacks it, when the connection dies
// first, and promptly with an error wrapping ctx.Err() when ctx is done.
func (s *Sink[T]) DeadLetter(ctx context.Context, letter retry.DeadLetter[T]) error {
	s.check()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rabbitdlq: %w", err)
	}
	body, err := s.encode(letter.Item)
	if err != nil {
		return fmt.Errorf("rabbitdlq: encoding the item: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("rabbitdlq: making a message ID: %w", err)
	}
	msg := amqp.Publishing{
		Headers:      headers(letter),
		ContentType:  s.contentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    id.String(),
		Timestamp:    time.Now(),
		Body:         body,
	}
	if err := s.pub.Publish(ctx, s.exchange, s.key, msg); err != nil {
		return fmt.Errorf("rabbitdlq: publishing a dead letter to exchange %q with routing key %q: %w", s.exchange, s.key, err)
	}
	return nil
}

// Close closes the Sink's connection. Letters waiting for a confirmation
// fail; later ones fail with rabbitmq.ErrClosed.
func (s *Sink[T]) Close() error {
	s.check()
	return s.pub.Close()
}

func (s *Sink[T]) check() {
	if s == nil || s.pub == nil {
		panic("rabbitdlq: Sink used without New")
	}
}

func headers[T any](letter retry.DeadLetter[T]) amqp.Table {
	kept := letter.Attempts
	if len(kept) > maxHistory {
		kept = kept[len(kept)-maxHistory:]
	}
	each := maxAttemptBytes
	if len(kept) > 0 {
		each = min(max(historyBudget/len(kept), minAttemptBytes), maxAttemptBytes)
	}
	history := make([]any, len(kept))
	for i, a := range kept {
		history[i] = amqp.Table{
			"number":      int64(a.Number),
			"start":       a.Start.UTC().Format(time.RFC3339Nano),
			"duration-ns": int64(a.Duration),
			"delay-ns":    int64(a.Delay),
			"error":       cut(errText(a.Err), each),
		}
	}
	return amqp.Table{
		ErrorHeader:    cut(errText(letter.Err), maxErrorBytes),
		AttemptsHeader: int64(len(letter.Attempts)),
		HistoryHeader:  history,
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cut shortens s to at most n bytes, ending in cutMark, at a character
// boundary; s is returned unchanged when it fits.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	end := n - len(cutMark)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + cutMark
}
