// Package natsoutbox publishes outbox messages to NATS JetStream: an
// outbox.Publisher for the transactional outbox's Relay, and Decode for
// consumers.
//
// Each message is published with its ID as the Nats-Msg-Id header, so a
// stream with a duplicate window (StreamConfig.Duplicates, two minutes by
// default) stores a message once even when a relay that crashed after
// publishing publishes it again. Publish waits for the stream's ack: the
// relay forgets a message only once JetStream has stored it.
//
// # Bytes
//
// Decode gives a consumer back every byte of the payload, the key and each
// header value. NATS headers are lines of text, and nats.go trims the white
// space around a value and turns line breaks into spaces; so a value (or
// key) that starts or ends with white space or holds a line break is sent
// in standard base64, and its name listed in the Bulwark-Encoded header,
// for Decode to undo. Every other value is sent as it is.
//
// # What a message may hold
//
// Publish refuses, with an error matching outbox.ErrInvalidMessage and
// before sending anything, a message it cannot publish as it is: one that
// does not Validate; a subject that is not literal (a token "*" or ">", an
// empty token, white space or control characters; see CheckSubject) or
// longer than MaxSubjectLen; a header name that is not printable ASCII
// without any of "():;<=>?@[\]{},/ or that starts with "Nats-" (JetStream's
// controls, which would change how the stream stores the message) or
// "Bulwark-" (natsoutbox's own), in any case; a message larger than the
// server's max_payload (1 MiB by default), headers included, or than the
// stream's largest message. A wildcard subject would otherwise be published
// and stored where no consumer of concrete subjects receives it. Check says
// the same before Enqueue, when the subject is known there.
package natsoutbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The headers natsoutbox sets besides the message's own.
const (
	// KeyHeader carries outbox.Message.Key.
	KeyHeader = "Bulwark-Key"
	// CreatedAtHeader carries outbox.Message.CreatedAt (RFC 3339 with
	// nanoseconds).
	CreatedAtHeader = "Bulwark-Created-At"
	// EncodedHeader lists, one name per value, the headers (KeyHeader
	// among them) whose value is sent in standard base64 because NATS
	// would alter it (see Bytes in the package documentation).
	EncodedHeader = "Bulwark-Encoded"
)

// MaxSubjectLen is the longest subject, in bytes, Publish sends: with the
// reply subject of a JetStream publish it fits the server's default
// max_control_line of 4 KiB. A longer control line makes the server close
// the connection, failing every publish on it.
const MaxSubjectLen = 3968

// Config configures a Publisher. The zero Config is the default (DefaultConfig): each message goes to the
// subject its Topic names.
type Config struct {
	// Subject returns the subject of a message; nil means the message's
	// Topic. The subjects published to must belong to a stream, and must
	// be literal (see CheckSubject): a function that puts keys into
	// subjects makes a key such as "*" a refused message.
	Subject func(outbox.Message) string
}

// DefaultConfig returns the defaults a zero Config stands for.
func DefaultConfig() Config {
	return Config{Subject: func(m outbox.Message) string { return m.Topic }}
}

// Publisher is an outbox.Publisher for NATS JetStream. It is safe for
// concurrent use. A Publisher made without New panics from every method.
type Publisher struct {
	js      jetstream.JetStream
	subject func(outbox.Message) string
}

var (
	_ outbox.Publisher = (*Publisher)(nil)
	_ outbox.Checker   = (*Publisher)(nil)
)

// New returns a Publisher that publishes through js, or an error if js is
// nil.
func New(js jetstream.JetStream, cfg Config) (*Publisher, error) {
	if js == nil {
		return nil, errors.New("natsoutbox: New: js must not be nil")
	}
	subject := cfg.Subject
	if subject == nil {
		subject = func(m outbox.Message) string { return m.Topic }
	}
	return &Publisher{js: js, subject: subject}, nil
}

func (p *Publisher) check() {
	if p == nil || p.js == nil {
		panic("natsoutbox: Publisher used without New")
	}
}

// Publish publishes m and waits for JetStream's ack. The message's headers
// go out as NATS headers, with the ID as Nats-Msg-Id, the key as
// Bulwark-Key and the creation time as Bulwark-Created-At. A publish the
// stream recognises as a duplicate (same ID within its window) succeeds
// without storing the message again. A message natsoutbox cannot publish as
// it is (see the package documentation) fails with an error matching
// outbox.ErrInvalidMessage, before anything is sent.
func (p *Publisher) Publish(ctx context.Context, m outbox.Message) error {
	p.check()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("natsoutbox: publishing %s: %w", m.ID, err)
	}
	msg, err := p.encode(m)
	if err != nil {
		return err
	}
	if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID.String())); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) ||
			errors.Is(err, nats.ErrBadSubject) || errors.Is(err, nats.ErrBadHeaderMsg) {
			return fmt.Errorf("natsoutbox: message %s to %s (a payload of %d bytes, headers included): %w: %w",
				m.ID, msg.Subject, msg.Size(), outbox.ErrInvalidMessage, err)
		}
		return fmt.Errorf("natsoutbox: publishing %s to %s: %w", m.ID, msg.Subject, err)
	}
	return nil
}

// Check returns the error Publish would return for m without sending it,
// or nil; the server's max_payload is checked once the connection knows
// it.
func (p *Publisher) Check(m outbox.Message) error {
	p.check()
	msg, err := p.encode(m)
	if err != nil {
		return err
	}
	if max := p.js.Conn().MaxPayload(); max > 0 && int64(msg.Size()-len(msg.Subject)) > max {
		return fmt.Errorf("natsoutbox: message %s to %s: %w: %d bytes with its headers, over the server's max_payload of %d",
			m.ID, msg.Subject, outbox.ErrInvalidMessage, msg.Size()-len(msg.Subject), max)
	}
	return nil
}

// encode checks m and returns the NATS message Publish sends.
func (p *Publisher) encode(m outbox.Message) (*nats.Msg, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("natsoutbox: message %s: %w: %s", m.ID, outbox.ErrInvalidMessage, fmt.Sprintf(format, args...))
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("natsoutbox: message %s: %w", m.ID, err)
	}
	subject := p.subject(m)
	if why := badSubject(subject); why != "" {
		return nil, invalid("the subject %.64q %s", subject, why)
	}
	h := make(nats.Header, len(m.Headers)+4)
	for name, v := range m.Headers {
		if why := badHeaderName(name); why != "" {
			return nil, invalid("the header name %.64q %s", name, why)
		}
		setValue(h, name, v)
	}
	setValue(h, KeyHeader, m.Key)
	h[CreatedAtHeader] = []string{createdAt(m.CreatedAt)}
	return &nats.Msg{Subject: subject, Data: m.Payload, Header: h}, nil
}

// setValue sets header name to v, or to v in base64 (listing name in
// EncodedHeader) when NATS would alter v.
func setValue(h nats.Header, name, v string) {
	if strings.ContainsAny(v, "\r\n") || textproto.TrimString(v) != v {
		h[EncodedHeader] = append(h[EncodedHeader], name)
		v = base64.StdEncoding.EncodeToString([]byte(v))
	}
	h[name] = []string{v}
}

// reserved reports whether a header name belongs to JetStream or to
// natsoutbox.
func reserved(name string) bool {
	for _, prefix := range []string{"nats-", "bulwark-"} {
		if len(name) >= len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// badHeaderName says why name cannot be a header of a published message,
// or "".
func badHeaderName(name string) string {
	for i := range len(name) {
		if c := name[i]; c < '!' || c > '~' || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return fmt.Sprintf("holds %q: NATS takes printable ASCII without any of \"(),/:;<=>?@[\\]{}", c)
		}
	}
	if reserved(name) {
		return "is reserved: Nats- headers are JetStream's controls, Bulwark- headers natsoutbox's own"
	}
	return ""
}

// CheckSubject returns an error when subject is not a literal NATS subject
// Publish can send: empty, longer than MaxSubjectLen, not valid UTF-8, with
// an empty token (a leading, trailing or doubled "."), a wildcard token
// ("*" or ">"), or white space or control characters. A token that merely
// holds "*" or ">" ("a*b") is literal.
func CheckSubject(subject string) error {
	if why := badSubject(subject); why != "" {
		return fmt.Errorf("natsoutbox: the subject %.64q %s", subject, why)
	}
	return nil
}

// badSubject says why subject is not one CheckSubject accepts, or "".
func badSubject(subject string) string {
	switch {
	case subject == "":
		return "is empty"
	case len(subject) > MaxSubjectLen:
		return fmt.Sprintf("is %d bytes long, over natsoutbox.MaxSubjectLen (%d)", len(subject), MaxSubjectLen)
	case !utf8.ValidString(subject):
		return "is not valid UTF-8"
	}
	for i := range len(subject) {
		if c := subject[i]; c <= ' ' || c == 0x7f {
			return fmt.Sprintf("holds %q: subjects have no white space or control characters", c)
		}
	}
	for tok := range strings.SplitSeq(subject, ".") {
		switch tok {
		case "":
			return "has an empty token"
		case "*", ">":
			return fmt.Sprintf("has the wildcard token %q: publish subjects must be literal, or no consumer of concrete subjects receives the message", tok)
		}
	}
	return ""
}

// createdAt formats t in RFC 3339 with nanoseconds, in UTC unless that would
// move it out of the years RFC 3339 can write (0 to 9999): a creation time
// of 0000-01-01T00:00:00+01:00 is year -1 in UTC, which Decode could not
// read back.
func createdAt(t time.Time) string {
	if u := t.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		t = u
	}
	return t.Format(time.RFC3339Nano)
}

// Decode turns a message natsoutbox published back into an outbox.Message,
// for consumers: pass a jetstream.Msg's Subject(), Headers() and Data().
// The subject becomes the Topic, and every header (its first value) but
// those of JetStream and natsoutbox (Nats-…, Bulwark-…) becomes a Header,
// with the values Publish sent in base64 decoded. A message without a valid
// Nats-Msg-Id is rejected with an error wrapping
// outbox.ErrNotAnOutboxMessage.
func Decode(subject string, header nats.Header, data []byte) (outbox.Message, error) {
	id, err := uuid.Parse(header.Get(jetstream.MsgIDHeader))
	if err != nil {
		return outbox.Message{}, fmt.Errorf("natsoutbox: %w: Nats-Msg-Id %q: %w", outbox.ErrNotAnOutboxMessage, header.Get(jetstream.MsgIDHeader), err)
	}
	encoded := header[EncodedHeader]
	value := func(name string) (string, error) {
		v := header.Get(name)
		for _, e := range encoded {
			if e == name {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return "", fmt.Errorf("natsoutbox: message %s: header %.64q is listed in %s but is not base64: %w", id, name, EncodedHeader, err)
				}
				return string(b), nil
			}
		}
		return v, nil
	}
	m := outbox.Message{ID: id, Topic: subject, Payload: data}
	if m.Key, err = value(KeyHeader); err != nil {
		return outbox.Message{}, err
	}
	if at := header.Get(CreatedAtHeader); at != "" {
		if m.CreatedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return outbox.Message{}, fmt.Errorf("natsoutbox: message %s: bad %s %q: %w", id, CreatedAtHeader, at, err)
		}
	}
	for k, v := range header {
		if reserved(k) || len(v) == 0 {
			continue
		}
		if m.Headers == nil {
			m.Headers = make(map[string]string, len(header))
		}
		if m.Headers[k], err = value(k); err != nil {
			return outbox.Message{}, err
		}
	}
	return m, nil
}
