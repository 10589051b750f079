package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
)

// broker is a small in-process broker: it takes frames (encoded messages)
// and delivers them, in the order it took them, to its one consumer. A
// frame it cannot carry closes the publisher's connection.
type broker struct {
	mu     sync.Mutex
	frames [][]byte
	seen   map[uuid.UUID]bool // the IDs taken, for the "drops-duplicates" flaw
	held   []byte             // a frame held back, for the "swaps-pairs" flaw
}

// What the broker cannot carry: header names over 64 bytes, payloads of
// 1 MiB or more.
const (
	maxHeaderName = 64
	maxPayload    = 1 << 20
)

// frame is a message as the broker carries it.
type frame struct {
	ID        uuid.UUID       `json:"id"`
	Topic     string          `json:"topic"`
	Key       string          `json:"key"`
	Payload   []byte          `json:"payload"`
	Headers   json.RawMessage `json:"headers,omitempty"`
	CreatedAt int64           `json:"created_us"`
}

var errConnectionLost = errors.New("publisher: the broker closed the connection")

// take stores a frame; it fails with errConnectionLost, closing the
// connection, for a frame the broker cannot carry.
func (b *broker) take(id uuid.UUID, f []byte, fits bool, flaw string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !fits {
		return errConnectionLost
	}
	if flaw == "drops-duplicates" && b.seen[id] {
		return nil
	}
	b.seen[id] = true
	if flaw == "swaps-pairs" { // delivers each pair of frames second first
		if b.held == nil {
			b.held = f
			return nil
		}
		b.frames, b.held = append(b.frames, f, b.held), nil
		return nil
	}
	b.frames = append(b.frames, f)
	return nil
}

// publisher publishes to a broker; flaw names its deliberate defect ("" for
// none).
type publisher struct {
	b    *broker
	flaw string
}

var (
	_ outbox.Publisher = (*publisher)(nil)
	_ outbox.Checker   = (*publisher)(nil)
)

// Check refuses what Publish would refuse without asking the broker: a
// message that does not Validate, or one past the broker's limits.
func (p *publisher) Check(msg outbox.Message) error {
	if err := msg.Validate(); err != nil {
		return err
	}
	if p.flaw == "no-limits" {
		return nil
	}
	for name := range msg.Headers {
		if len(name) > maxHeaderName {
			return fmt.Errorf("%w: header name of %d bytes, the broker carries at most %d", outbox.ErrInvalidMessage, len(name), maxHeaderName)
		}
	}
	if len(msg.Payload) >= maxPayload {
		return fmt.Errorf("%w: payload of %d bytes, the broker carries less than %d", outbox.ErrInvalidMessage, len(msg.Payload), maxPayload)
	}
	return nil
}

func (p *publisher) Publish(ctx context.Context, msg outbox.Message) error {
	if err := ctx.Err(); err != nil && p.flaw != "ignores-context" {
		return fmt.Errorf("publisher: %w", err)
	}
	if err := p.Check(msg); err != nil {
		return err
	}
	f := frame{ID: msg.ID, Topic: msg.Topic, Key: msg.Key, Payload: msg.Payload, CreatedAt: msg.CreatedAt.UnixMicro()}
	var err error
	if p.flaw == "headers-as-json" {
		f.Headers, err = json.Marshal(msg.Headers) // invalid UTF-8 becomes U+FFFD
	} else {
		f.Headers, err = outbox.EncodeHeaders(msg.Headers)
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	fits := len(msg.Payload) < maxPayload
	for name := range msg.Headers {
		fits = fits && len(name) <= maxHeaderName
	}
	return p.b.take(msg.ID, b, fits, p.flaw)
}

// receive decodes the first n messages the broker delivered. Publish
// hands a message to the broker before it returns, so the broker holds
// every message published: with fewer than n there is nothing to wait for.
func (b *broker) receive(_ context.Context, n int) ([]outbox.Message, error) {
	b.mu.Lock()
	frames := append([][]byte(nil), b.frames...)
	b.mu.Unlock()
	if len(frames) < n {
		return nil, fmt.Errorf("the broker delivered %d messages, want %d", len(frames), n)
	}
	out := make([]outbox.Message, n)
	for i, data := range frames[:n] {
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, err
		}
		var headers map[string]string
		if len(f.Headers) > 0 && string(f.Headers) != "null" {
			var err error
			if headers, err = outbox.DecodeHeaders(f.Headers); err != nil {
				return nil, err
			}
		}
		out[i] = outbox.Message{ID: f.ID, Topic: f.Topic, Key: f.Key, Payload: f.Payload, Headers: headers, CreatedAt: timeOfMicros(f.CreatedAt)}
	}
	return out, nil
}
