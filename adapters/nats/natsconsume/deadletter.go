package natsconsume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The headers of a dead letter besides the message's own and IDHeader,
// natsoutbox.KeyHeader and natsoutbox.CreatedAtHeader (the message's ID,
// Key and PublishedAt).
const (
	// TopicHeader holds the subject the message came from, where Replay
	// publishes it again.
	TopicHeader = "Bulwark-Topic"
	// AttemptHeader holds the message's Attempt when it was dead-lettered
	// (decimal).
	AttemptHeader = "Bulwark-Attempt"
	// ErrorHeader holds the text of the error the message was
	// dead-lettered with.
	ErrorHeader = "Bulwark-Error"
	// AttemptsHeader holds the attempt history as a JSON array of
	// {"number", "start", "duration", "error", "delay"} objects (times in
	// RFC 3339 with nanoseconds, durations in Go's notation), as kafkadlq
	// writes it.
	AttemptsHeader = "Bulwark-Attempts"
)

// ErrNotFound is wrapped by Replay's and Discard's error when the dead-letter
// stream holds no letter at the given sequence.
var ErrNotFound = errors.New("natsconsume: no dead letter at that sequence")

// DeadLetterConfig configures DeadLetters. Stream and Subject are required.
type DeadLetterConfig struct {
	// Stream is the stream that stores Subject; DeadLetter publishes only
	// to it (a publish no stream, or another stream, takes fails), and
	// List, Replay and Discard read and delete there. Give it a retention
	// that keeps letters until someone looks (limits, not work queue).
	Stream string
	// Subject is the literal subject the letters are published to.
	Subject string
}

// DeadLetters keeps the messages a consume.Consumer gives up on in a
// JetStream stream: a retry.DeadLetterSink[consume.Message] for the
// Consumer's Config.DeadLetters, and List, Replay and Discard to look at
// them and send them back. It is safe for concurrent use. A DeadLetters made
// without NewDeadLetters panics from every method.
//
// A letter is one NATS message on Config.Subject: the payload as it was,
// the message's own headers, and IDHeader, natsoutbox.KeyHeader,
// natsoutbox.CreatedAtHeader, TopicHeader, AttemptHeader, ErrorHeader and
// AttemptsHeader (values NATS would alter sent in base64 and listed in
// natsoutbox.EncodedHeader, as natsoutbox does). The whole letter must fit
// the server's max_payload (1 MiB by default): a letter that does not is
// refused, and the Consumer keeps the message.
type DeadLetters struct {
	js      jetstream.JetStream
	stream  string
	subject string
}

var _ retry.DeadLetterSink[consume.Message] = (*DeadLetters)(nil)

// Letter is a dead letter read back by List.
type Letter struct {
	// Seq is the letter's sequence in the dead-letter stream: what Replay
	// and Discard take.
	Seq uint64
	// Message is the message as it was dead-lettered: ID, Key, Topic,
	// Payload, Headers, PublishedAt and Attempt (Metadata is nil).
	Message consume.Message
	// Err is the error it was dead-lettered with (its text only; nil if
	// there was none).
	Err error
	// Attempts is the attempt history, each error as its text.
	Attempts []retry.Attempt
	// At is when the stream stored the letter.
	At time.Time
}

// NewDeadLetters returns DeadLetters that publish through js, or an error
// naming a nil js or the first invalid setting of cfg. It does no I/O.
func NewDeadLetters(js jetstream.JetStream, cfg DeadLetterConfig) (*DeadLetters, error) {
	if js == nil {
		return nil, errors.New("natsconsume: NewDeadLetters: js must not be nil")
	}
	if why := badName(cfg.Stream); why != "" {
		return nil, fmt.Errorf("natsconsume: DeadLetterConfig.Stream %s", why)
	}
	if err := natsoutbox.CheckSubject(cfg.Subject); err != nil {
		return nil, fmt.Errorf("natsconsume: DeadLetterConfig.Subject: %w", err)
	}
	return &DeadLetters{js: js, stream: cfg.Stream, subject: cfg.Subject}, nil
}

func (d *DeadLetters) check() {
	if d == nil || d.js == nil {
		panic("natsconsume: DeadLetters used without NewDeadLetters")
	}
}

// DeadLetter publishes the letter to Config.Subject and returns nil only
// once Config.Stream has stored it. An error means it may not be stored;
// if it was (the server's acknowledgement was lost), the Consumer's next
// dead-lettering of the message stores a second letter.
func (d *DeadLetters) DeadLetter(ctx context.Context, letter retry.DeadLetter[consume.Message]) error {
	d.check()
	m := letter.Item
	h := make(nats.Header, len(m.Headers)+8)
	if err := putHeaders(h, m.Headers); err != nil {
		return err
	}
	setValue(h, IDHeader, m.ID)
	setValue(h, natsoutbox.KeyHeader, m.Key)
	setValue(h, TopicHeader, m.Topic)
	if !m.PublishedAt.IsZero() {
		h[natsoutbox.CreatedAtHeader] = []string{createdAt(m.PublishedAt)}
	}
	h[AttemptHeader] = []string{strconv.Itoa(m.Attempt)}
	var final string
	if letter.Err != nil {
		final = letter.Err.Error()
	}
	setValue(h, ErrorHeader, final)
	hist, err := json.Marshal(letter.Attempts)
	if err != nil {
		return fmt.Errorf("natsconsume: encoding the attempts of %s: %w", m.ID, err)
	}
	h[AttemptsHeader] = []string{string(hist)}
	msg := &nats.Msg{Subject: d.subject, Data: m.Payload, Header: h}
	if _, err := d.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(d.stream)); err != nil {
		return fmt.Errorf("natsconsume: dead-lettering %s to %s on stream %s: %w", m.ID, d.subject, d.stream, err)
	}
	return nil
}

// List returns the letters from sequence from on (1 for the first), at
// most limit (in [1, 10000]), oldest first; fewer than limit means there are
// no more now. Page on with from set to the last letter's Seq + 1.
func (d *DeadLetters) List(ctx context.Context, from uint64, limit int) ([]Letter, error) {
	d.check()
	if limit < 1 || limit > 10000 {
		return nil, fmt.Errorf("natsconsume: List: limit must be in [1, 10000], got %d", limit)
	}
	st, err := d.js.Stream(ctx, d.stream)
	if err != nil {
		return nil, fmt.Errorf("natsconsume: listing dead letters of stream %s: %w", d.stream, err)
	}
	var letters []Letter
	for seq := max(from, 1); len(letters) < limit; {
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(d.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return letters, fmt.Errorf("natsconsume: listing dead letters of stream %s: %w", d.stream, err)
		}
		letters = append(letters, readLetter(raw))
		seq = raw.Sequence + 1
	}
	return letters, nil
}

// Replay publishes the letter at seq again to the subject it came from,
// with its ID, Key, Headers, PublishedAt and payload, and then deletes it
// from the dead-letter stream: consumers handle it again, from Attempt 1.
//
// Its Nats-Msg-Id is "bulwark-replay:<stream>:<seq>", not the message's
// ID: the first publish's Nats-Msg-Id may still be in the source stream's
// duplicate window, which would drop the replay as a duplicate. The ID
// travels in IDHeader instead, and natsconsume decodes it from there.
// Replaying the same letter twice within the window (a Replay whose
// delete failed, tried again) stores it once.
//
// A seq that holds no letter is an error wrapping ErrNotFound.
func (d *DeadLetters) Replay(ctx context.Context, seq uint64) error {
	d.check()
	st, raw, err := d.get(ctx, "replaying", seq)
	if err != nil {
		return err
	}
	l := readLetter(raw)
	msg, err := encode(l.Message)
	if err != nil {
		return fmt.Errorf("natsconsume: replaying dead letter %d of stream %s: %w", seq, d.stream, err)
	}
	msgID := "bulwark-replay:" + d.stream + ":" + strconv.FormatUint(seq, 10)
	if _, err := d.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("natsconsume: replaying dead letter %d of stream %s to %s: %w", seq, d.stream, msg.Subject, err)
	}
	if err := st.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("natsconsume: replayed dead letter %d of stream %s, but deleting it: %w", seq, d.stream, err)
	}
	return nil
}

// Discard deletes the letter at seq. A seq that holds no letter is an
// error wrapping ErrNotFound.
func (d *DeadLetters) Discard(ctx context.Context, seq uint64) error {
	d.check()
	st, _, err := d.get(ctx, "discarding", seq)
	if err != nil {
		return err
	}
	if err := st.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("natsconsume: discarding dead letter %d of stream %s: %w", seq, d.stream, ErrNotFound)
		}
		return fmt.Errorf("natsconsume: discarding dead letter %d of stream %s: %w", seq, d.stream, err)
	}
	return nil
}

// get returns the stream and the letter at seq.
func (d *DeadLetters) get(ctx context.Context, what string, seq uint64) (jetstream.Stream, *jetstream.RawStreamMsg, error) {
	st, err := d.js.Stream(ctx, d.stream)
	if err != nil {
		return nil, nil, fmt.Errorf("natsconsume: %s dead letter %d of stream %s: %w", what, seq, d.stream, err)
	}
	raw, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && raw.Subject != d.subject {
		return nil, nil, fmt.Errorf("natsconsume: %s dead letter %d of stream %s: %w", what, seq, d.stream, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("natsconsume: %s dead letter %d of stream %s: %w", what, seq, d.stream, err)
	}
	return st, raw, nil
}

// readLetter decodes a stored letter. Like decode it never fails: a header
// that cannot be read leaves its field zero.
func readLetter(raw *jetstream.RawStreamMsg) Letter {
	h := raw.Header
	m := decode(&jetstream.MsgMetadata{}, "", h, raw.Data, "")
	m.Metadata = nil
	m.ID = textValue(h, IDHeader)
	m.Topic = textValue(h, TopicHeader)
	m.Attempt, _ = strconv.Atoi(h.Get(AttemptHeader))
	l := Letter{Seq: raw.Sequence, Message: m, At: raw.Time}
	if final := textValue(h, ErrorHeader); final != "" {
		l.Err = errors.New(final)
	}
	if json.Unmarshal([]byte(h.Get(AttemptsHeader)), &l.Attempts) != nil {
		l.Attempts = nil // a damaged history is left out, not half read
	}
	return l
}
