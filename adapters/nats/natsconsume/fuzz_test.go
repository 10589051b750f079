package natsconsume_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// overTheWire returns h as a subscriber gets it: written as nats.go writes
// headers (each value trimmed, line breaks made spaces) and parsed back
// with nats.go's own reader.
func overTheWire(t *testing.T, h nats.Header) nats.Header {
	var b bytes.Buffer
	b.WriteString("NATS/1.0\r\n")
	clean := strings.NewReplacer("\r", " ", "\n", " ")
	for k, vs := range h {
		for _, v := range vs {
			b.WriteString(k + ": " + clean.Replace(strings.Trim(v, " \t\r\n")) + "\r\n")
		}
	}
	b.WriteString("\r\n")
	got, err := nats.DecodeHeadersMsg(b.Bytes())
	require.NoError(t, err)
	return got
}

// FuzzDecode: a message with any ID, key, header and payload that
// natsconsume encodes (for a replay or a test) crosses the wire and
// decodes to the same ID, Key, Headers, Payload and PublishedAt; and any
// headers at all, bulwark's damaged ones included, decode without a
// panic to a message with an ID.
func FuzzDecode(f *testing.F) {
	f.Add("0190a0f0-0000-7000-8000-000000000000", "order-1", "traceparent", "00-x-01", int64(1765100000123456789), []byte("{}"), "Bulwark-Created-At", "yesterday")
	f.Add("", "", "", "", int64(0), []byte(nil), "Bulwark-Encoded", "Bulwark-Key")
	f.Add(" id\n", "\tkey ", "has space", "v\r\n", int64(-1), []byte{0}, "Bulwark-Headers", "[{")
	f.Add("a", "b", "Nats-Msg-Id", "c", int64(42), []byte("x"), "Bulwark-Id", "@@@")
	f.Fuzz(func(t *testing.T, id, key, name, value string, at int64, data []byte, rawName, rawValue string) {
		meta := &jetstream.MsgMetadata{Stream: "S", Consumer: "C", NumDelivered: 3, Timestamp: time.Unix(0, 7)}
		meta.Sequence.Stream = 9

		// Anything: no panic, always an ID and the attempt.
		raw := nats.Header{rawName: {rawValue}, natsoutbox.EncodedHeader: {rawName, natsoutbox.KeyHeader}, natsoutbox.KeyHeader: {rawValue}}
		m := natsconsume.Decode(meta, "s", raw, data, rawName)
		assert.Equal(t, 3, m.Attempt)
		assert.NotNil(t, m.Metadata)
		if rawName != natsconsume.IDHeader && rawName != jetstream.MsgIDHeader {
			assert.Equal(t, "S:9", m.ID)
		}

		// What natsconsume encodes round-trips.
		in := consume.Message{ID: id, Key: key, Topic: "orders.x", Payload: data, PublishedAt: time.Unix(0, at).UTC()}
		if name != "" || value != "" {
			in.Headers = map[string]string{name: value}
		}
		msg, err := natsconsume.Encode(in)
		require.NoError(t, err)
		out := natsconsume.Decode(meta, msg.Subject, overTheWire(t, msg.Header), msg.Data, "")
		assert.Equal(t, in.ID, out.ID)
		assert.Equal(t, in.Key, out.Key)
		assert.Equal(t, in.Topic, out.Topic)
		assert.Equal(t, in.Payload, out.Payload)
		assert.Equal(t, in.Headers, out.Headers)
		assert.True(t, in.PublishedAt.Equal(out.PublishedAt), "%v != %v", in.PublishedAt, out.PublishedAt)
	})
}
