// Package kafkadlq keeps dead letters in a Kafka topic: a
// retry.DeadLetterSink that produces each letter as one record and returns
// only once all in-sync replicas have it, and Decode to read letters back
// (to inspect, alert on or re-drive them).
//
// A letter's record carries the item as its value (JSON by default, or
// Config.Encode's bytes) and what happened to it as headers:
// Bulwark-Error holds the text of the error the Retrier gave up with, and
// Bulwark-Attempts the history of every attempt as a JSON array of
// {"number", "start", "duration", "error", "delay"} objects (times in RFC
// 3339 with nanoseconds, durations in Go's notation, such as "1.5s"). The record's
// timestamp is when the letter was dead-lettered, on Config.Clock.
//
// Items that are Kafka records themselves (a consumer's
// retry.Handler[*kgo.Record]) are dead-lettered as they came: their key,
// value and headers unchanged, plus Bulwark-Origin-Topic, -Partition,
// -Offset and -Timestamp saying where they came from; Decode rebuilds them.
//
//	sink, err := kafkadlq.New(cl, kafkadlq.Config[*kgo.Record]{Topic: "orders.dlq"})
//	if err != nil { ... }
//	handle := retry.Handler(retrier, sink, processOrder)
//	fetches.EachRecord(func(rec *kgo.Record) {
//		if err := handle(ctx, rec); err != nil { ... } // not handled: stop, retry later
//	})
//
// The history travels in headers, which count towards the topic's maximum
// message size (1 MiB by default): a letter whose errors are enormous, or
// with thousands of attempts, may be refused, and the Handler then reports
// the item as not handled.
package kafkadlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/produce"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The headers of a dead letter's record.
const (
	// ErrorHeader holds the text of DeadLetter.Err ("" when it is nil).
	ErrorHeader = "Bulwark-Error"
	// AttemptsHeader holds DeadLetter.Attempts as a JSON array.
	AttemptsHeader = "Bulwark-Attempts"
	// OriginTopicHeader, OriginPartitionHeader, OriginOffsetHeader and
	// OriginTimestampHeader say where a *kgo.Record item was consumed from
	// (in decimal; the timestamp in milliseconds since the Unix epoch, as
	// Kafka keeps it).
	OriginTopicHeader     = "Bulwark-Origin-Topic"
	OriginPartitionHeader = "Bulwark-Origin-Partition"
	OriginOffsetHeader    = "Bulwark-Origin-Offset"
	OriginTimestampHeader = "Bulwark-Origin-Timestamp"
)

// ErrNotADeadLetter is wrapped by Decode's error for a record that a Sink
// did not write (no Bulwark-Error or Bulwark-Attempts header).
var ErrNotADeadLetter = errors.New("kafkadlq: not a dead letter")

// Config configures a Sink of items of type T.
type Config[T any] struct {
	// Topic is where dead letters go: 1 to 249 of the characters
	// [a-zA-Z0-9._-]; "" means DefaultTopic. It must exist unless the
	// client may create it (kgo.AllowAutoTopicCreation).
	Topic string
	// Encode turns an item into the record's value. nil means
	// encoding/json, except for a *kgo.Record item, whose own value is
	// kept.
	Encode func(item T) ([]byte, error)
	// Key returns the record key of an item; letters with the same key go
	// to the same partition, in order. nil means no key, except for a
	// *kgo.Record item, whose own key is kept.
	Key func(item T) []byte
	// Clock stamps each record with the time it was dead-lettered; nil
	// means clock.System.
	Clock clock.Clock
}

// Sink is a retry.DeadLetterSink that writes to a Kafka topic. It is safe
// for concurrent use. A Sink made without New panics from DeadLetter.
type Sink[T any] struct {
	cl     *kgo.Client
	topic  string
	encode func(T) ([]byte, error)
	key    func(T) []byte
	clock  clock.Clock
}

var _ retry.DeadLetterSink[int] = (*Sink[int])(nil)

// DefaultTopic is Config.Topic when it is empty.
const DefaultTopic = "dead-letters"

// DefaultConfig returns the defaults a zero Config stands for: letters to
// the topic "dead-letters", encoded as JSON, unkeyed, stamped by the system
// clock.
func DefaultConfig[T any]() Config[T] {
	return Config[T]{Topic: DefaultTopic, Clock: clock.System}
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// New returns a Sink that produces with cl, or an error naming what is
// wrong with cl or the first invalid setting of cfg. cl must keep franz-go's
// durable defaults: acks from all in-sync replicas, idempotent writes,
// automatic flushing, no transactional ID. The Sink never closes it.
func New[T any](cl *kgo.Client, cfg Config[T]) (*Sink[T], error) {
	if err := produce.Check("kafkadlq: New: cl", cl); err != nil {
		return nil, err
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if !topicName.MatchString(cfg.Topic) || cfg.Topic == "." || cfg.Topic == ".." {
		return nil, fmt.Errorf("kafkadlq: Config.Topic must be 1 to 249 of [a-zA-Z0-9._-] (not . or ..), got %q", cfg.Topic)
	}
	s := &Sink[T]{cl: cl, topic: cfg.Topic, encode: cfg.Encode, key: cfg.Key, clock: clock.OrSystem(cfg.Clock)}
	if s.encode == nil {
		s.encode = encodeDefault[T]
	}
	return s, nil
}

// DeadLetter produces the letter and returns nil only once all in-sync
// replicas have it. An error means it may not be stored: the item's
// encoding failed, the broker refused the record, or ctx ended first (the
// error then wraps ctx.Err(), and the record may still be stored: a retry
// would store the letter twice).
func (s *Sink[T]) DeadLetter(ctx context.Context, letter retry.DeadLetter[T]) error {
	if s == nil || s.cl == nil {
		panic("kafkadlq: Sink used without New")
	}
	rec, err := s.record(letter)
	if err != nil {
		return err
	}
	if err := produce.Sync(ctx, s.cl, rec); err != nil {
		return fmt.Errorf("kafkadlq: producing a dead letter to %s: %w", s.topic, err)
	}
	return nil
}

func (s *Sink[T]) record(letter retry.DeadLetter[T]) (*kgo.Record, error) {
	value, err := s.encode(letter.Item)
	if err != nil {
		return nil, fmt.Errorf("kafkadlq: encoding a dead letter's item: %w", err)
	}
	hist, err := json.Marshal(letter.Attempts)
	if err != nil {
		return nil, fmt.Errorf("kafkadlq: encoding a dead letter's attempts: %w", err)
	}
	var final string
	if letter.Err != nil {
		final = letter.Err.Error()
	}
	rec := &kgo.Record{Topic: s.topic, Value: value, Timestamp: s.clock.Now()}
	if orig, ok := any(letter.Item).(*kgo.Record); ok && orig != nil {
		rec.Key = orig.Key
		rec.Headers = make([]kgo.RecordHeader, 0, len(orig.Headers)+6)
		for _, h := range orig.Headers {
			if !reserved(h.Key) {
				rec.Headers = append(rec.Headers, h)
			}
		}
		rec.Headers = append(rec.Headers,
			kgo.RecordHeader{Key: OriginTopicHeader, Value: []byte(orig.Topic)},
			kgo.RecordHeader{Key: OriginPartitionHeader, Value: strconv.AppendInt(nil, int64(orig.Partition), 10)},
			kgo.RecordHeader{Key: OriginOffsetHeader, Value: strconv.AppendInt(nil, orig.Offset, 10)},
			kgo.RecordHeader{Key: OriginTimestampHeader, Value: strconv.AppendInt(nil, orig.Timestamp.UnixMilli(), 10)})
	}
	if s.key != nil {
		rec.Key = s.key(letter.Item)
	}
	rec.Headers = append(rec.Headers,
		kgo.RecordHeader{Key: ErrorHeader, Value: []byte(final)},
		kgo.RecordHeader{Key: AttemptsHeader, Value: hist})
	return rec, nil
}

func encodeDefault[T any](item T) ([]byte, error) {
	if r, ok := any(item).(*kgo.Record); ok {
		if r == nil {
			return nil, nil
		}
		return r.Value, nil
	}
	return json.Marshal(item)
}

func reserved(header string) bool {
	switch header {
	case ErrorHeader, AttemptsHeader, OriginTopicHeader, OriginPartitionHeader, OriginOffsetHeader, OriginTimestampHeader:
		return true
	}
	return false
}
