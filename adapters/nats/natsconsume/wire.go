package natsconsume

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The headers natsconsume reads and writes besides natsoutbox's
// (natsoutbox.KeyHeader, CreatedAtHeader and EncodedHeader, which it
// reads and writes the same way).
const (
	// IDHeader carries a message's ID when it is not the Nats-Msg-Id: a
	// replayed dead letter keeps its first ID here, since its Nats-Msg-Id
	// must differ from the first publish's for the stream to store it
	// again.
	IDHeader = "Bulwark-Id"
	// HeadersHeader carries the message headers whose names NATS cannot
	// carry as headers (white space, a colon, non-ASCII, a reserved Nats-
	// or Bulwark- prefix), as a JSON array of {"name", "value"} objects
	// with both in standard base64: a dead letter of a message that came
	// from another broker keeps them there.
	HeadersHeader = "Bulwark-Headers"
)

// Metadata is natsconsume's view of a message, in consume.Message.Metadata.
type Metadata struct {
	// Stream and Consumer name the stream the message is stored in and
	// the durable consumer that delivered it; Domain is the JetStream
	// domain ("" for none).
	Stream, Consumer, Domain string
	// StreamSeq is the message's sequence in its stream; ConsumerSeq the
	// delivery's sequence in the consumer.
	StreamSeq, ConsumerSeq uint64
	// NumDelivered counts this message's deliveries to the consumer, this
	// one included (it is consume.Message.Attempt).
	NumDelivered uint64
	// NumPending is the number of messages of the consumer not yet
	// delivered when this one was.
	NumPending uint64
	// Timestamp is when the stream stored the message.
	Timestamp time.Time
	// Header is the message's headers as they arrived, JetStream's and
	// bulwark's included, values not decoded.
	Header nats.Header
}

// decode turns a JetStream message into a consume.Message. It never fails:
// a message that was not published by natsoutbox or natsconsume, or whose
// bulwark headers are damaged, is delivered with what can be read, so that
// a handler (and the dead letters) see it instead of the stream stalling.
//
//   - ID: the IDHeader, else the Nats-Msg-Id, else "<stream>:<stream
//     sequence>".
//   - Key: natsoutbox.KeyHeader, else the header keyHeader names ("" for
//     none), else "".
//   - PublishedAt: natsoutbox.CreatedAtHeader when it is a valid RFC 3339
//     time, else when the stream stored the message.
//   - Headers: every header's first value but JetStream's and bulwark's
//     (names starting with Nats- or Bulwark-, in any case), plus those in
//     HeadersHeader; a value listed in natsoutbox.EncodedHeader is
//     base64-decoded (kept as it is when it is not valid base64).
func decode(meta *jetstream.MsgMetadata, subject string, h nats.Header, data []byte, keyHeader string) consume.Message {
	value := func(name string) string { return textValue(h, name) }
	m := consume.Message{
		Topic:       subject,
		Payload:     data,
		Attempt:     int(min(meta.NumDelivered, math.MaxInt32)),
		PublishedAt: meta.Timestamp,
		Metadata: &Metadata{
			Stream: meta.Stream, Consumer: meta.Consumer, Domain: meta.Domain,
			StreamSeq: meta.Sequence.Stream, ConsumerSeq: meta.Sequence.Consumer,
			NumDelivered: meta.NumDelivered, NumPending: meta.NumPending,
			Timestamp: meta.Timestamp, Header: h,
		},
	}
	switch {
	case len(h[IDHeader]) > 0:
		m.ID = value(IDHeader)
	case h.Get(jetstream.MsgIDHeader) != "":
		m.ID = h.Get(jetstream.MsgIDHeader)
	default:
		m.ID = meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	switch {
	case len(h[natsoutbox.KeyHeader]) > 0:
		m.Key = value(natsoutbox.KeyHeader)
	case keyHeader != "" && len(h[keyHeader]) > 0:
		m.Key = value(keyHeader)
	}
	if at := h.Get(natsoutbox.CreatedAtHeader); at != "" {
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			m.PublishedAt = t
		}
	}
	for k, v := range h {
		if reserved(k) || len(v) == 0 {
			continue
		}
		if m.Headers == nil {
			m.Headers = make(map[string]string, len(h))
		}
		m.Headers[k] = value(k)
	}
	if extra := h.Get(HeadersHeader); extra != "" {
		var more []otherHeader
		if err := json.Unmarshal([]byte(extra), &more); err == nil {
			for _, o := range more {
				if m.Headers == nil {
					m.Headers = make(map[string]string, len(more))
				}
				m.Headers[string(o.Name)] = string(o.Value)
			}
		}
	}
	return m
}

// textValue returns the first value of header name, base64-decoded when
// it is listed in natsoutbox.EncodedHeader (and kept as it is when it is
// not valid base64).
func textValue(h nats.Header, name string) string {
	v := h.Get(name)
	if slices.Contains(h[natsoutbox.EncodedHeader], name) {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil {
			return string(b)
		}
	}
	return v
}

// encode returns the NATS message that carries m to m.Topic so that decode
// gives m's ID, Key, Payload, Headers and PublishedAt back: natsoutbox's
// format, with the ID in IDHeader.
func encode(m consume.Message) (*nats.Msg, error) {
	if err := natsoutbox.CheckSubject(m.Topic); err != nil {
		return nil, fmt.Errorf("natsconsume: message %.64q: %w", m.ID, err)
	}
	h := make(nats.Header, len(m.Headers)+4)
	if err := putHeaders(h, m.Headers); err != nil {
		return nil, err
	}
	setValue(h, IDHeader, m.ID)
	if m.Key != "" {
		setValue(h, natsoutbox.KeyHeader, m.Key)
	}
	if !m.PublishedAt.IsZero() {
		h[natsoutbox.CreatedAtHeader] = []string{createdAt(m.PublishedAt)}
	}
	return &nats.Msg{Subject: m.Topic, Data: m.Payload, Header: h}, nil
}

// putHeaders sets a message's own headers on h: as headers where NATS can
// carry the name, in HeadersHeader otherwise.
func putHeaders(h nats.Header, headers map[string]string) error {
	var other []otherHeader
	for name, v := range headers {
		if !headerName(name) || reserved(name) {
			other = append(other, otherHeader{Name: []byte(name), Value: []byte(v)})
			continue
		}
		setValue(h, name, v)
	}
	if other != nil {
		slices.SortFunc(other, func(a, b otherHeader) int { return strings.Compare(string(a.Name), string(b.Name)) })
		b, err := json.Marshal(other)
		if err != nil {
			return fmt.Errorf("natsconsume: encoding headers: %w", err)
		}
		h[HeadersHeader] = []string{string(b)}
	}
	return nil
}

// otherHeader is a header in HeadersHeader: name and value in base64, so
// that any bytes survive.
type otherHeader struct {
	Name  []byte `json:"name"`
	Value []byte `json:"value"`
}

// setValue sets header name to v, or to v in base64 (listing name in
// natsoutbox.EncodedHeader) when NATS would alter v: natsoutbox's rule.
func setValue(h nats.Header, name, v string) {
	if strings.ContainsAny(v, "\r\n") || textproto.TrimString(v) != v {
		h[natsoutbox.EncodedHeader] = append(h[natsoutbox.EncodedHeader], name)
		v = base64.StdEncoding.EncodeToString([]byte(v))
	}
	h[name] = []string{v}
}

// headerName reports whether NATS carries name as a header name as it is.
func headerName(name string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		if c := name[i]; c < '!' || c > '~' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// reserved reports whether a header name belongs to JetStream or bulwark.
func reserved(name string) bool {
	for _, prefix := range []string{"nats-", "bulwark-"} {
		if len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// createdAt formats t as natsoutbox does: RFC 3339 with nanoseconds, in UTC
// unless that moves it out of the years RFC 3339 can write.
func createdAt(t time.Time) string {
	if u := t.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		t = u
	}
	return t.Format(time.RFC3339Nano)
}
