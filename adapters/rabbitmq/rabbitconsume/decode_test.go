package rabbitconsume

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	at := time.Date(2026, 12, 7, 18, 0, 0, 123456789, time.UTC)
	body := []byte("hello")
	sum := sha256.Sum256(body)
	for _, tt := range []struct {
		name string
		d    amqp.Delivery
		want consume.Message
	}{
		{"bare", amqp.Delivery{RoutingKey: "rk", Body: body},
			consume.Message{ID: "sha256:" + hex.EncodeToString(sum[:]), Topic: "rk", Payload: body, Attempt: 1}},
		{"message-id and timestamp", amqp.Delivery{MessageId: "m-1", RoutingKey: "rk", Timestamp: at.Truncate(time.Second)},
			consume.Message{ID: "m-1", Topic: "rk", Attempt: 1, PublishedAt: at.Truncate(time.Second)}},
		{"outbox headers", amqp.Delivery{MessageId: "m-1", RoutingKey: "rk", Timestamp: at.Truncate(time.Second), Headers: amqp.Table{
			rabbitoutbox.KeyHeader: "k", rabbitoutbox.TopicHeader: "orders", rabbitoutbox.CreatedAtHeader: at.Format(time.RFC3339Nano), "a": "b",
		}}, consume.Message{ID: "m-1", Key: "k", Topic: "orders", Attempt: 1, PublishedAt: at, Headers: map[string]string{"a": "b"}}},
		{"bad created-at falls back to the timestamp", amqp.Delivery{MessageId: "m", Timestamp: at.Truncate(time.Second), Headers: amqp.Table{
			rabbitoutbox.CreatedAtHeader: "yesterday",
		}}, consume.Message{ID: "m", Attempt: 1, PublishedAt: at.Truncate(time.Second)}},
		{"attempt header", amqp.Delivery{MessageId: "m", Headers: amqp.Table{AttemptHeader: int64(4)}}, consume.Message{ID: "m", Attempt: 4}},
		{"attempt header of another integer type", amqp.Delivery{MessageId: "m", Headers: amqp.Table{AttemptHeader: int32(3)}}, consume.Message{ID: "m", Attempt: 3}},
		{"nonsense attempt header", amqp.Delivery{MessageId: "m", Headers: amqp.Table{AttemptHeader: int64(-2)}}, consume.Message{ID: "m", Attempt: 1}},
		{"x-death rejections from this queue", amqp.Delivery{MessageId: "m", Headers: amqp.Table{"x-death": []any{
			amqp.Table{"queue": "other", "reason": "rejected", "count": int64(9)},
			amqp.Table{"queue": "q", "reason": "expired", "count": int64(8)},
			amqp.Table{"queue": "q", "reason": "rejected", "count": int64(2)},
		}, "x-first-death-queue": "q", "x-first-death-reason": "rejected", "x-last-death-queue": "q"}}, consume.Message{ID: "m", Attempt: 3}},
		{"the higher of header and x-death", amqp.Delivery{MessageId: "m", Headers: amqp.Table{AttemptHeader: int64(5), "x-death": []any{
			amqp.Table{"queue": "q", "reason": "rejected", "count": int64(2)},
		}}}, consume.Message{ID: "m", Attempt: 5}},
		{"header values as text, bulwark's and tables left out", amqp.Delivery{MessageId: "m", Headers: amqp.Table{
			"s": "x", "b": []byte("y"), "t": true, "i8": int8(-1), "u8": byte(2), "i16": int16(3), "u16": uint16(4), "i32": int32(5),
			"u32": uint32(6), "i64": int64(-7), "f32": float32(1.5), "f64": 2.25, "ts": at, "tbl": amqp.Table{"a": "b"},
			"arr": []any{"x"}, "nil": nil, "dec": amqp.Decimal{Scale: 1, Value: 5}, "Bulwark-Other": "z", "bulwark-key": int64(1),
		}}, consume.Message{ID: "m", Attempt: 1, Headers: map[string]string{
			"s": "x", "b": "y", "t": "true", "i8": "-1", "u8": "2", "i16": "3", "u16": "4", "i32": "5", "u32": "6",
			"i64": "-7", "f32": "1.5", "f64": "2.25", "ts": "2026-12-07T18:00:00Z",
		}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := decode(tt.d, "q")
			assert.Equal(t, tt.d, got.Metadata)
			got.Metadata = nil
			assert.Equal(t, tt.want, got)
		})
	}
}

// FuzzDecode: decode accepts every delivery; the ID is the message-id or
// the body's hash, the attempt at least 1, no bulwark or dead-lettering
// header reaches Headers, and a delivery as rabbitoutbox publishes it
// decodes as rabbitoutbox.Decode reads it.
func FuzzDecode(f *testing.F) {
	f.Add("0193d3a4-7b1c-7000-8000-000000000001", "orders", []byte(`{"id":1}`), "key", "topic", "2026-12-07T18:00:00.5Z", int64(2), "h", "v", int64(0))
	f.Add("", "", []byte{}, "", "", "", int64(0), "", "", int64(3))
	f.Add("m", "rk", []byte{0xff}, "\x00", "\xff", "bad", int64(-1), "x-death", "v", int64(-5))
	f.Add("m", "rk", []byte("b"), "k", "t", "2026-12-07T18:00:00Z", int64(1)<<40, "BULWARK-KEY", "v", int64(1)<<40)
	f.Fuzz(func(t *testing.T, id, routingKey string, body []byte, key, topic, createdAt string, attempt int64, name, value string, deaths int64) {
		h := amqp.Table{
			rabbitoutbox.KeyHeader:       key,
			rabbitoutbox.TopicHeader:     topic,
			rabbitoutbox.CreatedAtHeader: createdAt,
			AttemptHeader:                attempt,
			"x-death":                    []any{amqp.Table{"queue": "q", "reason": "rejected", "count": deaths}},
		}
		if name != "" {
			h[name] = value
		}
		d := amqp.Delivery{MessageId: id, RoutingKey: routingKey, Body: body, Headers: h}
		m := decode(d, "q")
		if id != "" {
			assert.Equal(t, id, m.ID)
		} else {
			sum := sha256.Sum256(body)
			assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), m.ID)
		}
		assert.GreaterOrEqual(t, m.Attempt, 1)
		if name != AttemptHeader {
			assert.GreaterOrEqual(t, m.Attempt, int(min(max(attempt, 1), 1<<31-1)))
		}
		for k, v := range m.Headers {
			assert.False(t, reserved(k) || deathHeader(k), "header %q kept", k)
			assert.Equal(t, h[k], v)
		}
		assert.Equal(t, body, m.Payload)

		if _, err := uuid.Parse(id); err != nil {
			return
		}
		want, err := rabbitoutbox.Decode(d)
		if err != nil {
			require.True(t, strings.Contains(err.Error(), rabbitoutbox.CreatedAtHeader), err.Error())
			return
		}
		assert.Equal(t, want.ID.String(), m.ID)
		assert.Equal(t, want.Key, m.Key)
		assert.Equal(t, want.Topic, m.Topic)
		assert.True(t, want.CreatedAt.Equal(m.PublishedAt))
		assert.Equal(t, want.Headers, m.Headers)
	})
}

// FuzzLetterRoundTrip: DecodeLetter(EncodeLetter(m)) is m, every byte of
// every string kept.
func FuzzLetterRoundTrip(f *testing.F) {
	f.Add("id", "key", "topic", []byte("payload"), "h", "v", 3, int64(1765130400123456789))
	f.Add("\xff", "\x00", "é", []byte{}, "\xfe", "\"{base64}", 1, int64(0))
	f.Add("sha256:00", "", "", []byte(nil), "", "", 0, int64(-1))
	f.Fuzz(func(t *testing.T, id, key, topic string, payload []byte, name, value string, attempt int, at int64) {
		if id == "" {
			return // a letter needs an ID
		}
		m := consume.Message{ID: id, Key: key, Topic: topic, Payload: payload, Attempt: attempt, Metadata: amqp.Delivery{}}
		if at > 0 {
			m.PublishedAt = time.Unix(0, at).UTC()
		}
		if name != "" {
			m.Headers = map[string]string{name: value}
		}
		b, err := EncodeLetter(m)
		require.NoError(t, err)
		got, err := DecodeLetter(b)
		require.NoError(t, err)
		m.Metadata = nil
		if m.Payload == nil {
			m.Payload = []byte{}
		}
		assert.Equal(t, m, got)
	})
}

func TestDecodeLetterRejects(t *testing.T) {
	for _, b := range []string{``, `{`, `{"key":"k"}`, `{"id":{"base64":"%%"}}`, `[]`} {
		_, err := DecodeLetter([]byte(b))
		assert.ErrorContains(t, err, "rabbitconsume: decoding a letter", b)
	}
}
