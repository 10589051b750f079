package kafkaconsume

import (
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The headers a Source reads. Header names starting with "Bulwark-" (in any
// case) are bulwark's own: Decode does not return them in Message.Headers.
const (
	// IDHeader carries the message ID (kafkaoutbox.IDHeader).
	IDHeader = kafkaoutbox.IDHeader
	// CreatedAtHeader carries when the message was made, in RFC 3339 with
	// nanoseconds (kafkaoutbox.CreatedAtHeader).
	CreatedAtHeader = kafkaoutbox.CreatedAtHeader
	// AttemptHeader carries the delivery attempt of a redelivered message,
	// in decimal. A record without it is attempt 1.
	AttemptHeader = "Bulwark-Attempt"
	// NotBeforeHeader carries, on a retry topic's record, the time before
	// which it is not handed to the Consumer (RFC 3339 with nanoseconds).
	NotBeforeHeader = "Bulwark-Not-Before"
	// TopicHeader carries, on a retry topic's record, the topic the message
	// was first consumed from.
	TopicHeader = "Bulwark-Topic"
)

// Decode turns a record into the Message a handler sees. It never fails:
//
//   - ID is the Bulwark-Id header (kafkaoutbox's message ID, kept across
//     redeliveries); a record without one gets "<topic>/<partition>/<offset>"
//     of where it was consumed, which is stable across redeliveries of that
//     record but not across copies of it.
//   - Key is the record key; Payload the record value (shared, not copied).
//   - Topic is the Bulwark-Topic header when present (a retry topic's
//     record names the topic it was first consumed from), else the record's
//     topic.
//   - Attempt is the Bulwark-Attempt header when it is a positive decimal
//     number, else 1.
//   - PublishedAt is the Bulwark-Created-At header when it parses as RFC
//     3339, else the record's timestamp.
//   - Headers are the record's headers except those named Bulwark-… (the
//     first one, when a name repeats); nil when there are none.
//   - Metadata is rec.
func Decode(rec *kgo.Record) consume.Message {
	m, _ := decode(rec)
	return m
}

// decode is Decode plus the Bulwark-Not-Before time (zero if absent or
// unreadable).
func decode(rec *kgo.Record) (consume.Message, time.Time) {
	m := consume.Message{Topic: rec.Topic, Key: string(rec.Key), Payload: rec.Value, Attempt: 1, PublishedAt: rec.Timestamp, Metadata: rec}
	var notBefore time.Time
	var haveID, haveTopic, haveAttempt, haveAt, haveNB bool
	extra := 0
	for _, h := range rec.Headers {
		if !reserved(h.Key) {
			extra++
			continue
		}
		switch h.Key {
		case IDHeader:
			if !haveID && len(h.Value) > 0 {
				m.ID, haveID = string(h.Value), true
			}
		case TopicHeader:
			if !haveTopic && len(h.Value) > 0 {
				m.Topic, haveTopic = string(h.Value), true
			}
		case AttemptHeader:
			if !haveAttempt {
				haveAttempt = true
				if n, err := strconv.Atoi(string(h.Value)); err == nil && n > 0 {
					m.Attempt = n
				}
			}
		case CreatedAtHeader:
			if !haveAt {
				haveAt = true
				if t, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
					m.PublishedAt = t
				}
			}
		case NotBeforeHeader:
			if !haveNB {
				haveNB = true
				if t, err := time.Parse(time.RFC3339Nano, string(h.Value)); err == nil {
					notBefore = t
				}
			}
		}
	}
	if !haveID {
		m.ID = positionID(rec)
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
	return m, notBefore
}

// positionID is the ID of a record without a Bulwark-Id header.
func positionID(rec *kgo.Record) string {
	var buf [128]byte // on the stack for most topics: one allocation, the string's
	b := append(buf[:0], rec.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(rec.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, rec.Offset, 10)
	return string(b)
}

// reserved reports whether a header name is bulwark's.
func reserved(name string) bool {
	const prefix = "bulwark-"
	return len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix)
}

// appendTime appends t in RFC 3339 with nanoseconds, in UTC unless that
// would take it out of the years RFC 3339 can write.
func appendTime(b []byte, t time.Time) []byte {
	if u := t.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		t = u
	}
	return t.AppendFormat(b, time.RFC3339Nano)
}

// redeliveryHeaders returns rec's headers for a copy of its message sent
// again (to a retry topic, or replayed from a dead letter): Bulwark-Id set
// to id, Bulwark-Created-At to published (none if zero), the others kept
// but for the retry headers (attempt, not-before, topic), which the caller
// adds as it needs, with room for extra more.
func redeliveryHeaders(rec *kgo.Record, id string, published time.Time, extra int) []kgo.RecordHeader {
	hs := make([]kgo.RecordHeader, 0, len(rec.Headers)+extra+2)
	hs = append(hs, kgo.RecordHeader{Key: IDHeader, Value: []byte(id)})
	if !published.IsZero() {
		hs = append(hs, kgo.RecordHeader{Key: CreatedAtHeader, Value: appendTime(nil, published)})
	}
	for _, h := range rec.Headers {
		switch h.Key {
		case IDHeader, CreatedAtHeader, AttemptHeader, NotBeforeHeader, TopicHeader:
		default:
			hs = append(hs, h)
		}
	}
	return hs
}
