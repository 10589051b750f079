package natsoutbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// harness gives RunPublisher a publisher on a fresh stream of the server
// at url, and a consumer that decodes what arrives.
func harness(t *testing.T, url string) outboxtest.PublisherHarness {
	_, js := natstest.Connect(t, url)
	st, prefix := natstest.Stream(t, js, 0)
	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	require.NoError(t, err)
	cons, err := st.OrderedConsumer(context.Background(), jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	var mu sync.Mutex
	var got []outbox.Message
	return outboxtest.PublisherHarness{
		Publisher:    pub,
		Topic:        prefix,
		Deduplicates: true,
		Limits:       limits(t),
		Receive: func(ctx context.Context, n int) ([]outbox.Message, error) {
			mu.Lock()
			defer mu.Unlock()
			for len(got) < n {
				wait := 100 * time.Millisecond
				if d, ok := ctx.Deadline(); ok {
					wait = max(min(time.Until(d), time.Second), time.Millisecond)
				}
				msg, err := cons.Next(jetstream.FetchMaxWait(wait))
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					continue
				}
				m, err := natsoutbox.Decode(msg.Subject(), msg.Headers(), msg.Data())
				if err != nil {
					return nil, err
				}
				got = append(got, m)
			}
			return got[:n], nil
		},
	}
}

// limits are what natsoutbox refuses besides invalid messages (see the
// package documentation): subjects past MaxSubjectLen or not literal,
// header names NATS cannot carry or natsoutbox and JetStream reserve, and
// messages over the embedded server's default max_payload of 1 MiB.
func limits(t *testing.T) outboxtest.Limits {
	return outboxtest.Limits{
		MaxTopic:   natsoutbox.MaxSubjectLen,
		MaxHeaders: 1 << 20,
		MaxPayload: 1 << 20,
		InvalidTopics: []string{"*", ">", "x.*.y", "x.>", "a b", "tab\tx", "line\nbreak", "trailing.", "a..b", "!.leading",
			"!*", "!>", "del\x7f"},
		InvalidHeaderNames: []string{"Nats-Msg-Id", "nats-expected-stream", "Nats-TTL", natsoutbox.KeyHeader, "bulwark-created-at",
			natsoutbox.EncodedHeader, "Bulwark-Other", "has space", "colon:name", "naïve", "a\tb"},
	}
}

func TestPublisherConformanceEmbedded(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // after the server's and connections' cleanups
	url := natstest.Server(t)
	outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness { return harness(t, url) })
}

func TestPublisherConformanceExternal(t *testing.T) {
	url := natstest.External(t)
	outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness { return harness(t, url) })
}

func TestNewNeedsJetStream(t *testing.T) {
	_, err := natsoutbox.New(nil, natsoutbox.Config{})
	assert.EqualError(t, err, "natsoutbox: New: js must not be nil")
	assert.PanicsWithValue(t, "natsoutbox: Publisher used without New", func() {
		_ = new(natsoutbox.Publisher).Publish(context.Background(), outbox.Message{})
	})
}

func TestSubjectMapping(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Server(t))
	st, prefix := natstest.Stream(t, js, 0)
	pub, err := natsoutbox.New(js, natsoutbox.Config{Subject: func(m outbox.Message) string { return prefix + "." + m.Topic }})
	require.NoError(t, err)
	require.NoError(t, pub.Publish(context.Background(), outbox.NewMessage("orders", "k", []byte("x"))))
	m, err := st.GetLastMsgForSubject(context.Background(), prefix+".orders")
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), m.Data)
}

// TestPublishWithoutStreamFails: a subject no stream takes is an error (no
// ack), not a silent success.
func TestPublishWithoutStreamFails(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Server(t))
	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	assert.Error(t, pub.Publish(ctx, outbox.NewMessage("nowhere", "k", nil)))
}

func TestDecodeRejectsForeignMessages(t *testing.T) {
	_, err := natsoutbox.Decode("s", nats.Header{}, nil)
	assert.ErrorIs(t, err, outbox.ErrNotAnOutboxMessage)
	_, err = natsoutbox.Decode("s", nats.Header{"Nats-Msg-Id": {"not-a-uuid"}}, nil)
	assert.ErrorIs(t, err, outbox.ErrNotAnOutboxMessage)
	_, err = natsoutbox.Decode("s", nats.Header{"Nats-Msg-Id": {"0190a0f0-0000-7000-8000-000000000000"}, natsoutbox.CreatedAtHeader: {"yesterday"}}, nil)
	assert.ErrorContains(t, err, "bad Bulwark-Created-At")
}

// FuzzDecode: any headers and body decode to a message or an error, never a
// panic; and a decoded message survives a second encode/decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Add("orders", "0190a0f0-0000-7000-8000-000000000000", "k", "2026-01-02T03:04:05.123456789Z", "h", "v", []byte("{}"))
	f.Add("", "", "", "", "", "", []byte(nil))
	f.Add("s", "urn:uuid:0190a0f0-0000-7000-8000-000000000000", "", "not a time", "Nats-Msg-Id", "x", []byte{0})
	f.Fuzz(func(t *testing.T, subject, id, key, created, hk, hv string, data []byte) {
		h := nats.Header{"Nats-Msg-Id": {id}, natsoutbox.KeyHeader: {key}, natsoutbox.CreatedAtHeader: {created}, hk: {hv}}
		m, err := natsoutbox.Decode(subject, h, data)
		if err != nil {
			return
		}
		again := nats.Header{"Nats-Msg-Id": {m.ID.String()}, natsoutbox.KeyHeader: {m.Key}, natsoutbox.CreatedAtHeader: {m.CreatedAt.Format(time.RFC3339Nano)}}
		for k, v := range m.Headers {
			again[k] = []string{v}
		}
		m2, err := natsoutbox.Decode(subject, again, data)
		require.NoError(t, err)
		assert.Equal(t, m.ID, m2.ID)
		assert.Equal(t, m.Key, m2.Key)
		assert.Equal(t, m.Headers, m2.Headers)
		assert.True(t, m.CreatedAt.Equal(m2.CreatedAt))
	})
}

// TestCreationTimesAtTheEdgesRoundTrip publishes messages whose creation
// times sit at the ends of what RFC 3339 can write; each decodes to the same
// instant. Writing every time in UTC turned year 0 at +01:00 into year -1.
func TestCreationTimesAtTheEdgesRoundTrip(t *testing.T) {
	h := harness(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -3600)),
		time.Date(2026, 11, 29, 5, 0, 0, 1, time.UTC),
	}
	for _, at := range times {
		m := outbox.NewMessage(h.Topic, "k", []byte("x"))
		m.CreatedAt = at
		require.NoError(t, h.Publisher.Publish(ctx, m))
	}
	got, err := h.Receive(ctx, len(times))
	require.NoError(t, err)
	for i, at := range times {
		assert.True(t, got[i].CreatedAt.Equal(at), "sent %v, decoded %v", at, got[i].CreatedAt)
	}
}

// TestKeysMappedIntoSubjectsMustBeLiteral: with a Subject that puts the
// key into the subject, a key that makes the subject a wildcard (or not a
// subject at all) is refused by Check and Publish with an error matching
// outbox.ErrInvalidMessage, and nothing is stored; a literal key is
// published.
func TestKeysMappedIntoSubjectsMustBeLiteral(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, js := natstest.Connect(t, natstest.Server(t))
	st, prefix := natstest.Stream(t, js, 0)
	pub, err := natsoutbox.New(js, natsoutbox.Config{Subject: func(m outbox.Message) string { return prefix + "." + m.Key }})
	require.NoError(t, err)
	for _, key := range []string{"*", ">", "x.*.y", "a.>", "", "a b", "a..b", "end."} {
		m := outbox.NewMessage("orders", key, []byte("x"))
		assert.ErrorIs(t, pub.Check(m), outbox.ErrInvalidMessage, "Check of key %q", key)
		err := pub.Publish(ctx, m)
		assert.ErrorIs(t, err, outbox.ErrInvalidMessage, "key %q", key)
		assert.ErrorContains(t, err, "subject", "key %q", key)
	}
	info, err := st.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.State.Msgs, "nothing was stored")

	m := outbox.NewMessage("orders", "order-1", []byte("x"))
	require.NoError(t, pub.Check(m))
	require.NoError(t, pub.Publish(ctx, m))
	got, err := st.GetLastMsgForSubject(ctx, prefix+".order-1")
	require.NoError(t, err)
	assert.Equal(t, []byte("x"), got.Data)
}

func TestCheckSubject(t *testing.T) {
	for _, ok := range []string{"a", "a.b.c", "a*b", "a>b", "ünïcode.✓", strings.Repeat("s", natsoutbox.MaxSubjectLen)} {
		assert.NoError(t, natsoutbox.CheckSubject(ok), ok)
	}
	for bad, why := range map[string]string{
		"":       "is empty",
		"*":      `wildcard token "*"`,
		"a.>":    `wildcard token ">"`,
		"a.*.b":  `wildcard token "*"`,
		".a":     "empty token",
		"a.":     "empty token",
		"a..b":   "empty token",
		"a b":    `holds ' '`,
		"a\tb":   `holds '\t'`,
		"a\x00b": `holds '\x00'`,
		"a\xffb": "not valid UTF-8",
		strings.Repeat("s", natsoutbox.MaxSubjectLen+1): "over natsoutbox.MaxSubjectLen",
	} {
		err := natsoutbox.CheckSubject(bad)
		assert.ErrorContains(t, err, why, "%.20q", bad)
		assert.True(t, strings.HasPrefix(err.Error(), "natsoutbox: "), err.Error())
	}
}
