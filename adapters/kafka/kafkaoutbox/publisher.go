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
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/produce"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The headers kafkaoutbox sets besides the message's own. Header names
// starting with "Bulwark-" (in any case) are kafkaoutbox's: Publish refuses
// a message with one, Record leaves them out and Decode does not return
// them.
const (
	// IDHeader carries outbox.Message.ID, the key to deduplicate on.
	IDHeader = "Bulwark-Id"
	// CreatedAtHeader carries outbox.Message.CreatedAt (RFC 3339 with
	// nanoseconds, in UTC).
	CreatedAtHeader = "Bulwark-Created-At"
)

// MaxTopicLen is the longest topic name Kafka accepts, in bytes.
const MaxTopicLen = 249

// Config configures a Publisher. The zero Config is the default (DefaultConfig): each message goes to the
// topic its Topic names.
type Config struct {
	// Topic returns the topic of a message; nil means the message's Topic.
	// Per-key order relies on a partitioner that hashes the record key
	// (the client's default); the topics must exist unless the client may
	// create them (kgo.AllowAutoTopicCreation).
	Topic func(outbox.Message) string
}

// DefaultConfig returns the defaults a zero Config stands for.
func DefaultConfig() Config {
	return Config{Topic: func(m outbox.Message) string { return m.Topic }}
}

// Publisher is an outbox.Publisher for Kafka. It is safe for concurrent
// use. A Publisher made without New panics from every method.
type Publisher struct {
	cl    *kgo.Client
	topic func(outbox.Message) string
}

var (
	_ outbox.Publisher = (*Publisher)(nil)
	_ outbox.Checker   = (*Publisher)(nil)
)

// New returns a Publisher that produces with cl, or an error when cl is nil
// or would not produce durably: cl must keep franz-go's durable defaults
// (acks from all in-sync replicas, idempotent writes, automatic flushing,
// no transactional ID). The Publisher never closes cl.
func New(cl *kgo.Client, cfg Config) (*Publisher, error) {
	if err := produce.Check("kafkaoutbox: New: cl", cl); err != nil {
		return nil, err
	}
	return &Publisher{cl: cl, topic: cfg.Topic}, nil
}

func (p *Publisher) check() {
	if p == nil || p.cl == nil {
		panic("kafkaoutbox: Publisher used without New")
	}
}

// Publish produces m and waits until all in-sync replicas have it. When
// ctx ends first, Publish returns at once with an error wrapping
// ctx.Err(); the record may still be stored (see Duplicates in the package
// documentation). A broker's refusal is returned as franz-go reports it
// (a *kerr.Error for Kafka's error codes).
//
// A message Kafka cannot take as it is fails alone, with an error matching
// outbox.ErrInvalidMessage: one that does not Validate, a topic that is
// not 1 to 249 of [a-zA-Z0-9._-] (nor "." or ".."), a header name starting
// with "Bulwark-", and a record larger than the client's
// ProducerBatchMaxBytes (1,000,012 bytes by default), which the client
// refuses before sending; so is a record the broker refuses as too large
// or corrupt.
func (p *Publisher) Publish(ctx context.Context, m outbox.Message) error {
	p.check()
	rec, err := p.record(m)
	if err != nil {
		return err
	}
	if err := produce.Sync(ctx, p.cl, rec); err != nil {
		if invalidRecord(err) {
			return fmt.Errorf("kafkaoutbox: message %s to %s (a key of %d bytes, a payload of %d, headers of %d): %w: %w",
				m.ID, rec.Topic, len(rec.Key), len(rec.Value), headerBytes(rec), outbox.ErrInvalidMessage, err)
		}
		return fmt.Errorf("kafkaoutbox: publishing %s to %s: %w", m.ID, rec.Topic, err)
	}
	return nil
}

// Check returns the error Publish would return for m without producing it
// (but for the broker's own limits), or nil.
func (p *Publisher) Check(m outbox.Message) error {
	p.check()
	rec, err := p.record(m)
	if err != nil {
		return err
	}
	size := len(rec.Key) + len(rec.Value) + headerBytes(rec)
	if max, _ := p.cl.OptValue(kgo.ProducerBatchMaxBytes).(int32); max > 0 && size > int(max) {
		return fmt.Errorf("kafkaoutbox: message %s to %s: %w: the record is %d bytes, over the client's ProducerBatchMaxBytes of %d",
			m.ID, rec.Topic, outbox.ErrInvalidMessage, size, max)
	}
	return nil
}

// record checks m and returns the record Publish produces.
func (p *Publisher) record(m outbox.Message) (*kgo.Record, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("kafkaoutbox: message %s: %w", m.ID, err)
	}
	for name := range m.Headers {
		if reserved(name) {
			return nil, fmt.Errorf("kafkaoutbox: message %s: %w: the header name %.64q is reserved: Bulwark- headers are kafkaoutbox's own",
				m.ID, outbox.ErrInvalidMessage, name)
		}
	}
	rec := Record(m)
	if p.topic != nil {
		rec.Topic = p.topic(m)
	}
	if err := CheckTopic(rec.Topic); err != nil {
		return nil, fmt.Errorf("kafkaoutbox: message %s: %w: %w", m.ID, outbox.ErrInvalidMessage, err)
	}
	return rec, nil
}

// headerBytes is the size of rec's header names and values.
func headerBytes(rec *kgo.Record) int {
	n := 0
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// invalidRecord reports whether err is Kafka's refusal of the record
// itself, which producing it again cannot change.
func invalidRecord(err error) bool {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage, kerr.InvalidTopicException} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// CheckTopic returns an error when topic is not a name Kafka accepts: 1 to
// MaxTopicLen of the characters [a-zA-Z0-9._-], and neither "." nor "..".
func CheckTopic(topic string) error {
	if len(topic) == 0 || len(topic) > MaxTopicLen || topic == "." || topic == ".." {
		return fmt.Errorf("kafkaoutbox: the topic %.64q (%d bytes) is not 1 to %d of [a-zA-Z0-9._-] other than \".\" and \"..\"", topic, len(topic), MaxTopicLen)
	}
	for i := range len(topic) {
		if c := topic[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("kafkaoutbox: the topic %.64q holds %q: Kafka takes [a-zA-Z0-9._-]", topic, c)
		}
	}
	return nil
}

// reserved reports whether a header name is kafkaoutbox's.
func reserved(name string) bool {
	const prefix = "bulwark-"
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

// Record returns the record Publish produces for m (to m.Topic), without
// checking m: for a program that produces outbox messages itself, in a
// Kafka transaction say. Headers named Bulwark-… are left out.
func Record(m outbox.Message) *kgo.Record {
	hs := make([]kgo.RecordHeader, 0, len(m.Headers)+2)
	hs = append(hs,
		kgo.RecordHeader{Key: IDHeader, Value: []byte(m.ID.String())},
		kgo.RecordHeader{Key: CreatedAtHeader, Value: appendTime(nil, m.CreatedAt)})
	for k, v := range m.Headers {
		if reserved(k) {
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
// key the Key, its value the Payload, and every header but those named
// Bulwark-… a Header (the first, if a name repeats). A record without a
// valid Bulwark-Id is rejected with an error wrapping
// outbox.ErrNotAnOutboxMessage. The Payload shares the record's memory.
func Decode(rec *kgo.Record) (outbox.Message, error) {
	var idv, atv []byte
	var haveID bool
	extra := 0
	for _, h := range rec.Headers {
		switch {
		case h.Key == IDHeader:
			if !haveID {
				idv, haveID = h.Value, true
			}
		case h.Key == CreatedAtHeader:
			if atv == nil {
				atv = h.Value
			}
		case !reserved(h.Key):
			extra++
		}
	}
	id, err := uuid.ParseBytes(idv)
	if err != nil {
		return outbox.Message{}, fmt.Errorf("kafkaoutbox: %w: %s %q: %w", outbox.ErrNotAnOutboxMessage, IDHeader, idv, err)
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
			if reserved(h.Key) {
				continue
			}
			if _, dup := m.Headers[h.Key]; !dup {
				m.Headers[h.Key] = string(h.Value)
			}
		}
	}
	return m, nil
}
