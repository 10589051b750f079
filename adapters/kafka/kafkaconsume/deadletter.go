package kafkaconsume

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/produce"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkadlq"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DeadLetterConfig configures a DeadLetters sink.
type DeadLetterConfig struct {
	// Topic is where dead letters go: 1 to 249 of [a-zA-Z0-9._-]; ""
	// means kafkadlq.DefaultTopic ("dead-letters"). It must exist unless
	// the client may create it.
	Topic string
	// Clock stamps each letter's record with the time it was
	// dead-lettered; nil means clock.System.
	Clock clock.Clock
}

// DeadLetters is the retry.DeadLetterSink[consume.Message] for a Consumer
// of a Source (consume.Config.DeadLetters): a kafkadlq.Sink that keeps each
// message as the record it came in as. The letter's record has the
// message's key, value and own headers, its Bulwark-Id and
// Bulwark-Created-At, Bulwark-Topic naming the topic to replay it to, the
// position it was consumed from (kafkadlq's Bulwark-Origin-… headers: for
// a message that came through a retry topic, its place there), and the
// error and every attempt (Bulwark-Error, Bulwark-Attempts). Read letters
// back with DecodeDeadLetter and send them again with Replay. It is safe
// for concurrent use.
type DeadLetters struct {
	sink *kafkadlq.Sink[*kgo.Record]
}

var _ retry.DeadLetterSink[consume.Message] = (*DeadLetters)(nil)

// NewDeadLetters returns a DeadLetters sink producing with cl, or an error
// naming what is wrong with cl (which must keep franz-go's durable produce
// defaults, as kafkadlq.New says) or cfg. It never closes cl.
func NewDeadLetters(cl *kgo.Client, cfg DeadLetterConfig) (*DeadLetters, error) {
	sink, err := kafkadlq.New(cl, kafkadlq.Config[*kgo.Record]{Topic: cfg.Topic, Clock: cfg.Clock})
	if err != nil {
		return nil, fmt.Errorf("kafkaconsume: NewDeadLetters: %w", err)
	}
	return &DeadLetters{sink: sink}, nil
}

// DeadLetter stores the letter and returns nil only once all in-sync
// replicas have it (see kafkadlq.Sink.DeadLetter).
func (s *DeadLetters) DeadLetter(ctx context.Context, letter retry.DeadLetter[consume.Message]) error {
	if s == nil || s.sink == nil {
		panic("kafkaconsume: DeadLetters used without NewDeadLetters")
	}
	return s.sink.DeadLetter(ctx, retry.DeadLetter[*kgo.Record]{Item: letterRecord(&letter.Item), Err: letter.Err, Attempts: letter.Attempts})
}

// letterRecord returns the record a dead letter of m keeps: the record m
// was decoded from (its position, key, value, headers), without the retry
// headers, with Bulwark-Id and Bulwark-Topic set. A message that did not
// come from a Source is rebuilt from its fields.
func letterRecord(m *consume.Message) *kgo.Record {
	rec, ok := m.Metadata.(*kgo.Record)
	if !ok || rec == nil {
		rec = &kgo.Record{Topic: m.Topic, Partition: -1, Offset: -1, Key: []byte(m.Key), Value: m.Payload, Timestamp: m.PublishedAt}
		for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(m.Headers[k])})
		}
	}
	out := *rec
	out.Headers = append(redeliveryHeaders(rec, m.ID, m.PublishedAt, 1), kgo.RecordHeader{Key: TopicHeader, Value: []byte(m.Topic)})
	return &out
}

// DecodeDeadLetter reads a letter that DeadLetters wrote: the message as a
// Source would decode the record it replays (see Decode; Attempt is 1, and
// Metadata is the record the letter was made of, at its origin position),
// the final error and every attempt. A record DeadLetters did not write
// is rejected with an error wrapping kafkadlq.ErrNotADeadLetter.
func DecodeDeadLetter(rec *kgo.Record) (retry.DeadLetter[consume.Message], error) {
	l, err := kafkadlq.Decode[*kgo.Record](rec, nil)
	if err != nil {
		return retry.DeadLetter[consume.Message]{}, fmt.Errorf("kafkaconsume: %w", err)
	}
	return retry.DeadLetter[consume.Message]{Item: Decode(l.Item), Err: l.Err, Attempts: l.Attempts}, nil
}

// Replay produces the message of a letter that DeadLetters wrote back to
// the topic it was first consumed from (its Bulwark-Topic), with the same
// key, value, headers and ID, as attempt 1, waits until all in-sync
// replicas have it, and returns the message as a Source will decode it.
// cl must keep franz-go's durable produce defaults. Replay does not remove
// the letter (a DLQ topic is a log); a letter replayed twice delivers its
// message twice, with the same ID, which an idempotent inbox drops.
func Replay(ctx context.Context, cl *kgo.Client, letter *kgo.Record) (consume.Message, error) {
	if err := produce.Check("kafkaconsume: Replay: cl", cl); err != nil {
		return consume.Message{}, err
	}
	l, err := kafkadlq.Decode[*kgo.Record](letter, nil)
	if err != nil {
		return consume.Message{}, fmt.Errorf("kafkaconsume: Replay: %w", err)
	}
	orig := l.Item
	m := Decode(orig)
	if m.Topic == "" {
		return consume.Message{}, errors.New("kafkaconsume: Replay: the letter names no topic to replay to")
	}
	rec := &kgo.Record{Topic: m.Topic, Key: orig.Key, Value: orig.Value, Headers: redeliveryHeaders(orig, m.ID, m.PublishedAt, 0)}
	if err := produce.Sync(ctx, cl, rec); err != nil {
		return consume.Message{}, fmt.Errorf("kafkaconsume: replaying %s to %s: %w", m.ID, m.Topic, err)
	}
	return Decode(rec), nil
}
