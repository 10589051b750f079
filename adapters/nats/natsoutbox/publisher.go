// Package natsoutbox publishes outbox messages to NATS JetStream: an
// outbox.Publisher for the transactional outbox's Relay, and Decode for
// consumers.
//
// Each message is published with its ID as the Nats-Msg-Id header, so a
// stream with a duplicate window (StreamConfig.Duplicates, two minutes by
// default) stores a message once even when a relay that crashed after
// publishing publishes it again. Publish waits for the stream's ack: the
// relay forgets a message only once JetStream has stored it.
package natsoutbox

import (
	"context"
	"errors"
	"fmt"
	"time"

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
)

// ErrNotAnOutboxMessage is wrapped by Decode's error for a NATS message that
// natsoutbox did not publish (no valid Nats-Msg-Id).
var ErrNotAnOutboxMessage = errors.New("natsoutbox: not an outbox message")

// Config configures a Publisher.
type Config struct {
	// JetStream is the JetStream context to publish with. Required. The
	// subjects published to must belong to a stream.
	JetStream jetstream.JetStream
	// Subject returns the subject of a message; nil means the message's
	// Topic.
	Subject func(outbox.Message) string
}

// Publisher is an outbox.Publisher for NATS JetStream. It is safe for
// concurrent use.
type Publisher struct {
	js      jetstream.JetStream
	subject func(outbox.Message) string
}

var _ outbox.Publisher = (*Publisher)(nil)

// New returns a Publisher, or an error if cfg.JetStream is nil.
func New(cfg Config) (*Publisher, error) {
	if cfg.JetStream == nil {
		return nil, errors.New("natsoutbox: Config.JetStream must be set")
	}
	subject := cfg.Subject
	if subject == nil {
		subject = func(m outbox.Message) string { return m.Topic }
	}
	return &Publisher{js: cfg.JetStream, subject: subject}, nil
}

// Publish publishes m and waits for JetStream's ack. The message's headers
// go out as NATS headers, with the ID as Nats-Msg-Id, the key as
// Bulwark-Key and the creation time as Bulwark-Created-At. A publish the
// stream recognises as a duplicate (same ID within its window) succeeds
// without storing the message again.
func (p *Publisher) Publish(ctx context.Context, m outbox.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("natsoutbox: publishing %s: %w", m.ID, err)
	}
	msg := &nats.Msg{Subject: p.subject(m), Data: m.Payload, Header: make(nats.Header, len(m.Headers)+3)}
	for k, v := range m.Headers {
		msg.Header[k] = []string{v}
	}
	msg.Header[KeyHeader] = []string{m.Key}
	msg.Header[CreatedAtHeader] = []string{createdAt(m.CreatedAt)}
	if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID.String())); err != nil {
		return fmt.Errorf("natsoutbox: publishing %s to %s: %w", m.ID, msg.Subject, err)
	}
	return nil
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
// The subject becomes the Topic, and every header except those natsoutbox
// set becomes a Header (its first value). A message without a valid
// Nats-Msg-Id is rejected with an error wrapping ErrNotAnOutboxMessage.
func Decode(subject string, header nats.Header, data []byte) (outbox.Message, error) {
	id, err := uuid.Parse(header.Get(jetstream.MsgIDHeader))
	if err != nil {
		return outbox.Message{}, fmt.Errorf("%w: Nats-Msg-Id %q: %w", ErrNotAnOutboxMessage, header.Get(jetstream.MsgIDHeader), err)
	}
	m := outbox.Message{ID: id, Topic: subject, Key: header.Get(KeyHeader), Payload: data}
	if at := header.Get(CreatedAtHeader); at != "" {
		if m.CreatedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return outbox.Message{}, fmt.Errorf("natsoutbox: message %s: bad %s %q: %w", id, CreatedAtHeader, at, err)
		}
	}
	for k, v := range header {
		switch k {
		case jetstream.MsgIDHeader, KeyHeader, CreatedAtHeader:
			continue
		}
		if len(v) == 0 {
			continue
		}
		if m.Headers == nil {
			m.Headers = make(map[string]string, len(header))
		}
		m.Headers[k] = v[0]
	}
	return m, nil
}
