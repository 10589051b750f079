// Package kafkaoutbox publishes outbox messages to Apache Kafka with
// franz-go: an outbox.Publisher for the transactional outbox's Relay, and
// Decode for consumers.
//
// Each message becomes one record: the message's Key is the record key, so
// the client's default partitioner (a hash of the key) sends every message
// of a key to one partition, and per-key order is partition order. The ID
// and creation time travel as the headers Bulwark-Id and
// Bulwark-Created-At beside the message's own headers; the record's
// timestamp is the time of the produce, so a message that waited in the
// outbox (a replayed dead letter, say) is not expired early by the topic's
// time-based retention. Publish waits until all in-sync replicas have the
// record; New refuses a client that would acknowledge less.
//
// # Duplicates
//
// Kafka has no duplicate window keyed by message ID. The idempotent
// producer (on by default, required here) drops the copies its own
// internal retries make, but only within one producer session: a relay
// that published a message and then crashed before recording it publishes
// it again after its restart, and the topic then holds two records with
// the same Bulwark-Id. So does a Publish whose context ended while its
// record was in flight: the record may still be stored, and the relay
// publishes it again. Consumers drop the repeat by the message ID, for
// instance with an idempotency.Inbox (or a store's transactional inbox):
//
//	m, err := kafkaoutbox.Decode(rec)
//	if err != nil { ... }
//	_, err = inbox.Process(ctx, m.ID.String(), func(ctx context.Context) error {
//		return handle(ctx, m)
//	})
//
// Order survives this: the relay publishes a key's next message only once
// the previous one is acked, so the first copies of a key's messages are
// in order on its partition. A repeat may come after later messages of its
// key (a relay that published m1 and m2 and died publishes both again:
// m1 m2 m1 m2), so consumers drop repeats by ID, not by position.
package kafkaoutbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/produce"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The headers kafkaoutbox sets besides the message's own. A message header
// with one of these names is not published.
const (
	// IDHeader carries outbox.Message.ID, the key to deduplicate on.
	IDHeader = "Bulwark-Id"
	// CreatedAtHeader carries outbox.Message.CreatedAt (RFC 3339 with
	// nanoseconds, in UTC).
	CreatedAtHeader = "Bulwark-Created-At"
)

// ErrNotAnOutboxMessage is wrapped by Decode's error for a record that
// kafkaoutbox did not publish (no valid Bulwark-Id header).
var ErrNotAnOutboxMessage = errors.New("kafkaoutbox: not an outbox message")

// Config configures a Publisher.
type Config struct {
	// Client produces the records. Required. It must keep franz-go's
	// durable defaults: acks from all in-sync replicas, idempotent writes,
	// automatic flushing, no transactional ID. Publisher never closes it.
	// Per-key order relies on a partitioner that hashes the record key
	// (the default); the topics must exist unless the client may create
	// them (kgo.AllowAutoTopicCreation).
	Client *kgo.Client
	// Topic returns the topic of a message; nil means the message's Topic.
	Topic func(outbox.Message) string
}

// Publisher is an outbox.Publisher for Kafka. It is safe for concurrent
// use.
type Publisher struct {
	cl    *kgo.Client
	topic func(outbox.Message) string
}

var _ outbox.Publisher = (*Publisher)(nil)

// New returns a Publisher, or an error naming the first setting of cfg
// that cannot publish durably.
func New(cfg Config) (*Publisher, error) {
	if err := produce.Check("kafkaoutbox", cfg.Client); err != nil {
		return nil, err
	}
	return &Publisher{cl: cfg.Client, topic: cfg.Topic}, nil
}

// Publish produces m and waits until all in-sync replicas have it. When
// ctx ends first, Publish returns at once with an error wrapping
// ctx.Err(); the record may still be stored (see Duplicates in the package
// documentation). A broker's refusal is returned as franz-go reports it
// (a *kerr.Error for Kafka's error codes).
func (p *Publisher) Publish(ctx context.Context, m outbox.Message) error {
	rec := Record(m)
	if p.topic != nil {
		rec.Topic = p.topic(m)
	}
	if err := produce.Sync(ctx, p.cl, rec); err != nil {
		return fmt.Errorf("kafkaoutbox: publishing %s to %s: %w", m.ID, rec.Topic, err)
	}
	return nil
}

// Record returns the record Publish produces for m (to m.Topic): for a
// program that produces outbox messages itself, in a Kafka transaction
// say.
func Record(m outbox.Message) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(m.Headers)+2)
	hs = append(hs,
		kgo.RecordHeader{Key: IDHeader, Value: []byte(m.ID.String())},
		kgo.RecordHeader{Key: CreatedAtHeader, Value: appendTime(nil, m.CreatedAt)})
	for k, v := range m.Headers {
		if k == IDHeader || k == CreatedAtHeader {
			continue
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return &kgo.Record{Topic: m.Topic, Key: []byte(m.Key), Value: m.Payload, Headers: hs}
}

// appendTime appends t in RFC 3339 with nanoseconds, in UTC unless that
// would take it out of the years RFC 3339 can write (0 to 9999).
func appendTime(b []byte, t time.Time) []byte {
	if u := t.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		t = u
	}
	return t.AppendFormat(b, time.RFC3339Nano)
}

// Decode turns a record that kafkaoutbox published back into an
// outbox.Message, for consumers: the record's topic becomes the Topic, its
// key the Key, its value the Payload, and every header but Bulwark-Id and
// Bulwark-Created-At a Header (the first, if a name repeats). A record
// without a valid Bulwark-Id is rejected with an error wrapping
// ErrNotAnOutboxMessage. The Payload shares the record's memory.
func Decode(rec *kgo.Record) (outbox.Message, error) {
	var idv, atv []byte
	var haveID bool
	extra := 0
	for _, h := range rec.Headers {
		switch h.Key {
		case IDHeader:
			if !haveID {
				idv, haveID = h.Value, true
			}
		case CreatedAtHeader:
			if atv == nil {
				atv = h.Value
			}
		default:
			extra++
		}
	}
	id, err := uuid.ParseBytes(idv)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("%w: %s %q: %w", ErrNotAnOutboxMessage, IDHeader, idv, err)
	}
	m := outbox.Message{ID: id, Topic: rec.Topic, Key: string(rec.Key), Payload: rec.Value}
	if len(atv) > 0 {
		if m.CreatedAt, err = time.Parse(time.RFC3339Nano, string(atv)); err != nil {
			return outbox.Message{}, fmt.Errorf("kafkaoutbox: message %s: bad %s %q: %w", id, CreatedAtHeader, atv, err)
		}
	}
	if extra > 0 {
		m.Headers = make(map[string]string, extra)
		for _, h := range rec.Headers {
			if h.Key == IDHeader || h.Key == CreatedAtHeader {
				continue
			}
			if _, dup := m.Headers[h.Key]; !dup {
				m.Headers[h.Key] = string(h.Value)
			}
		}
	}
	return m, nil
}
