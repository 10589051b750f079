package outboxtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PublisherHarness is what a publisher gives RunPublisher for one test: a
// publisher whose messages (on any topic starting with Topic) reach a fresh
// consumer, and Receive, which returns the first n messages that consumer
// got, in arrival order, decoded back into outbox.Message.
type PublisherHarness struct {
	Publisher outbox.Publisher
	// Topic is the topic (or prefix of topics: Topic + "." + more) the
	// test may publish to; "outboxtest" when empty.
	Topic string
	// Receive waits for n messages, or fails when ctx is done.
	Receive func(ctx context.Context, n int) ([]outbox.Message, error)
	// Deduplicates says that the broker drops a message whose ID it has
	// seen before (within its duplicate window); RunPublisher then checks
	// that a re-published message is delivered once.
	Deduplicates bool
	// Limits are what the broker cannot carry.
	Limits Limits
}

// Limits declare what a publisher refuses besides messages that do not
// Validate: RunPublisher's BadInput tests make a message past each limit
// set (and one of each invalid value listed) and check that the publisher
// refuses it with an error matching outbox.ErrInvalidMessage, that it fails
// alone (concurrent good publishes all succeed and arrive), and that the
// publisher stays usable. A zero limit is not tested.
type Limits struct {
	// MaxTopic is the longest topic, in bytes, the publisher accepts (as
	// it is, or as its mapping to a subject, topic or routing key).
	MaxTopic int
	// MaxKey is the longest Key, in bytes.
	MaxKey int
	// MaxHeaderName is the longest header name, in bytes.
	MaxHeaderName int
	// MaxHeaders is a size, in bytes, that one header value may not reach:
	// a message with a header value that long is refused.
	MaxHeaders int
	// MaxPayload is a size, in bytes, that a payload may not reach: a
	// message with a payload that long is refused.
	MaxPayload int
	// InvalidTopics are topics the publisher refuses whatever their length
	// (NATS wildcards, characters Kafka does not allow). Each is used as
	// Topic + "." + the entry when it does not start with "!", and as the
	// whole topic (without the "!") when it does.
	InvalidTopics []string
	// InvalidKeys are keys the publisher refuses (when the key is mapped
	// into a subject, say).
	InvalidKeys []string
	// InvalidHeaderNames are header names the publisher refuses: names the
	// publisher sets itself, names its broker cannot carry.
	InvalidHeaderNames []string
}

// RunPublisher runs the publisher conformance suite.
func RunPublisher(t *testing.T, newHarness func(t *testing.T) PublisherHarness) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, PublisherHarness)
	}{
		{"RoundTrip", testPublishRoundTrip},
		{"BytesRoundTrip", testPublishBytes},
		{"KeyOrder", testPublishKeyOrder},
		{"CancelledContext", testPublishCancelled},
		{"Duplicates", testPublishDuplicates},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, harness(t, newHarness)) })
	}
	// One harness for every bad message, so that the publisher also shows
	// it stays usable after each.
	t.Run("BadInput", func(t *testing.T) {
		h := harness(t, newHarness)
		received := 0
		for _, c := range badCases(h) {
			t.Run(c.name, func(t *testing.T) { testBadInput(t, h, c, &received) })
		}
	})
}

func harness(t *testing.T, newHarness func(t *testing.T) PublisherHarness) PublisherHarness {
	h := newHarness(t)
	if h.Topic == "" {
		h.Topic = "outboxtest"
	}
	return h
}

func receive(t *testing.T, h PublisherHarness, n int) []outbox.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := h.Receive(ctx, n)
	require.NoError(t, err)
	require.Len(t, got, n)
	return got
}

func testPublishRoundTrip(t *testing.T, h PublisherHarness) {
	m := outbox.Message{
		ID: uuid.Must(uuid.NewV7()), Topic: h.Topic, Key: "order-1",
		Payload:   []byte(`{"total":42}`),
		Headers:   map[string]string{"trace-id": "abc123", "content-type": "application/json"},
		CreatedAt: base,
	}
	require.NoError(t, h.Publisher.Publish(context.Background(), m))
	assertSameBytes(t, m, receive(t, h, 1)[0], "received")
}

// testPublishBytes: a consumer gets back every byte of payload, key and
// header values, however odd (see oddHeaders), published one after
// another on one key.
func testPublishBytes(t *testing.T, h PublisherHarness) {
	want := []outbox.Message{
		{Payload: allBytes(), Headers: oddHeaders()},
		{Payload: nil, Headers: map[string]string{"only": ""}},
		{Payload: []byte{}, Key: " héllo ✓ \t\r\n"},
		{Payload: []byte("\xff\xfe\x00\x00"), Key: `"quoted" \back\slash' %_`, Headers: map[string]string{"x": "\xc3("}},
	}
	for i := range want {
		m := &want[i]
		m.ID, m.Topic, m.CreatedAt = uuid.Must(uuid.NewV7()), h.Topic, base.Add(time.Duration(i)*time.Microsecond)
		if m.Key == "" {
			m.Key = "bytes"
		}
		require.NoError(t, h.Publisher.Publish(context.Background(), *m), "message %d", i)
	}
	got := receive(t, h, len(want))
	byID := map[uuid.UUID]outbox.Message{}
	for _, g := range got {
		byID[g.ID] = g
	}
	for i, w := range want {
		g, ok := byID[w.ID]
		if assert.True(t, ok, "message %d did not arrive", i) {
			assertSameBytes(t, w, g, fmt.Sprintf("message %d", i))
		}
	}
}

func testPublishKeyOrder(t *testing.T, h PublisherHarness) {
	const n = 50
	var want []string
	for i := range n {
		m := outbox.NewMessage(h.Topic, "k", fmt.Appendf(nil, "%d", i))
		want = append(want, string(m.Payload))
		require.NoError(t, h.Publisher.Publish(context.Background(), m))
	}
	var got []string
	for _, m := range receive(t, h, n) {
		got = append(got, string(m.Payload))
	}
	assert.Equal(t, want, got)
}

func testPublishCancelled(t *testing.T, h PublisherHarness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := h.Publisher.Publish(ctx, outbox.NewMessage(h.Topic, "k", []byte("x")))
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// testPublishDuplicates publishes a message again (as a relay does after a
// crash): a broker that Deduplicates delivers it once; any other delivers
// every copy with the same ID, for consumers to drop.
func testPublishDuplicates(t *testing.T, h PublisherHarness) {
	first := outbox.NewMessage(h.Topic, "k", []byte("once"))
	second := outbox.NewMessage(h.Topic, "k", []byte("after"))
	for _, m := range []outbox.Message{first, first, second, first} {
		require.NoError(t, h.Publisher.Publish(context.Background(), m), "a duplicate publish succeeds")
	}
	if !h.Deduplicates {
		var ids []uuid.UUID
		for _, m := range receive(t, h, 4) {
			ids = append(ids, m.ID)
		}
		assert.Equal(t, []uuid.UUID{first.ID, first.ID, second.ID, first.ID}, ids, "every copy arrives, with its ID")
		return
	}
	got := receive(t, h, 2)
	assert.Equal(t, first.ID, got[0].ID)
	assert.Equal(t, second.ID, got[1].ID)
	// Nothing else arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	more, err := h.Receive(ctx, 3)
	assert.Error(t, err, "a third message arrived: %v", more)
}

// badCase is one message a publisher must refuse; the error must mention
// one of hints (case-insensitively), when there are any.
type badCase struct {
	name  string
	msg   func(topic string) outbox.Message
	hints []string
}

// The words an error may use for what is wrong.
var (
	topicHint   = []string{"topic", "subject", "routing key"}
	keyHint     = []string{"key"}
	headerHint  = []string{"header"}
	payloadHint = []string{"payload", "body", "size", "large"}
)

// badCases lists the messages every publisher refuses (those that do not
// Validate) and those past h.Limits.
func badCases(h PublisherHarness) []badCase {
	with := func(change func(m *outbox.Message)) func(string) outbox.Message {
		return func(topic string) outbox.Message {
			m := outbox.NewMessage(topic, "bad-key", []byte("bad"))
			change(&m)
			return m
		}
	}
	cases := []badCase{
		{"EmptyTopic", with(func(m *outbox.Message) { m.Topic = "" }), topicHint},
		{"TopicWithNUL", with(func(m *outbox.Message) { m.Topic += "\x00" }), topicHint},
		{"KeyNotUTF8", with(func(m *outbox.Message) { m.Key = "\xff" }), keyHint},
		{"KeyWithNUL", with(func(m *outbox.Message) { m.Key = "a\x00" }), keyHint},
		{"EmptyHeaderName", with(func(m *outbox.Message) { m.Headers = map[string]string{"": "v"} }), headerHint},
		{"HeaderNameNotUTF8", with(func(m *outbox.Message) { m.Headers = map[string]string{"\xff": "v"} }), headerHint},
	}
	l := h.Limits
	if l.MaxTopic > 0 {
		cases = append(cases, badCase{"TopicTooLong", with(func(m *outbox.Message) {
			m.Topic += "." + strings.Repeat("t", l.MaxTopic-len(m.Topic))
		}), topicHint})
	}
	if l.MaxKey > 0 {
		cases = append(cases, badCase{"KeyTooLong", with(func(m *outbox.Message) { m.Key = strings.Repeat("k", l.MaxKey+1) }), keyHint})
	}
	if l.MaxHeaderName > 0 {
		cases = append(cases, badCase{"HeaderNameTooLong", with(func(m *outbox.Message) {
			m.Headers = map[string]string{strings.Repeat("h", l.MaxHeaderName+1): "v"}
		}), headerHint})
	}
	if l.MaxHeaders > 0 {
		cases = append(cases, badCase{"HeaderValueTooLarge", with(func(m *outbox.Message) {
			m.Headers = map[string]string{"big": strings.Repeat("v", l.MaxHeaders)}
		}), headerHint})
	}
	if l.MaxPayload > 0 {
		cases = append(cases, badCase{"PayloadTooLarge", with(func(m *outbox.Message) {
			m.Payload = []byte(strings.Repeat("p", l.MaxPayload))
		}), payloadHint})
	}
	for _, topic := range l.InvalidTopics {
		cases = append(cases, badCase{fmt.Sprintf("InvalidTopic%q", topic), with(func(m *outbox.Message) {
			if whole, ok := strings.CutPrefix(topic, "!"); ok {
				m.Topic = whole
			} else {
				m.Topic += "." + topic
			}
		}), topicHint})
	}
	for _, key := range l.InvalidKeys {
		cases = append(cases, badCase{fmt.Sprintf("InvalidKey%q", key), with(func(m *outbox.Message) { m.Key = key }), append(keyHint, topicHint...)})
	}
	for _, name := range l.InvalidHeaderNames {
		cases = append(cases, badCase{fmt.Sprintf("InvalidHeaderName%q", name), with(func(m *outbox.Message) {
			m.Headers = map[string]string{name: "v"}
		}), headerHint})
	}
	return cases
}

// testBadInput publishes c's message at the same time as good messages on
// other keys: the bad one fails with outbox.ErrInvalidMessage and a clear
// error, every good one succeeds and arrives, and a publish afterwards
// works. A publisher that is an outbox.Checker refuses the bad message in
// Check too, and accepts the good ones. *received counts the messages the
// harness received in earlier cases.
func testBadInput(t *testing.T, h PublisherHarness, c badCase, received *int) {
	const good = 8
	bad := c.msg(h.Topic)
	var goods []outbox.Message
	for i := range good {
		goods = append(goods, outbox.NewMessage(h.Topic, fmt.Sprint("good-", i), fmt.Appendf(nil, "good %d", i)))
	}
	if checker, ok := h.Publisher.(outbox.Checker); ok {
		err := checker.Check(bad)
		assert.ErrorIs(t, err, outbox.ErrInvalidMessage, "Check")
		for _, m := range goods {
			assert.NoError(t, checker.Check(m), "Check of a good message")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, good)
	for i, m := range goods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = h.Publisher.Publish(ctx, m)
		}()
	}
	var badErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		badErr = h.Publisher.Publish(ctx, bad)
	}()
	close(start)
	wg.Wait()

	require.Error(t, badErr, "the bad message was published")
	assert.ErrorIs(t, badErr, outbox.ErrInvalidMessage, "the bad message's error: %v", badErr)
	assert.False(t, errors.Is(badErr, context.DeadlineExceeded), "the bad message's publish hung: %v", badErr)
	if badErr != nil && len(c.hints) > 0 {
		text := strings.ToLower(badErr.Error())
		assert.True(t, slices.ContainsFunc(c.hints, func(h string) bool { return strings.Contains(text, h) }),
			"the error says what is wrong (one of %q): %v", c.hints, badErr)
	}
	for i, err := range errs {
		assert.NoError(t, err, "good message %d failed beside the bad one", i)
	}

	after := outbox.NewMessage(h.Topic, "after", []byte("after"))
	require.NoError(t, h.Publisher.Publish(ctx, after), "the publisher stays usable")
	want := map[uuid.UUID]bool{after.ID: true}
	for _, m := range goods {
		want[m.ID] = true
	}
	got := map[uuid.UUID]bool{}
	all := receive(t, h, *received+good+1)
	*received = len(all)
	for _, m := range all[len(all)-good-1:] {
		assert.NotEqual(t, bad.ID, m.ID, "the bad message arrived")
		got[m.ID] = true
	}
	assert.Equal(t, want, got, "every good message arrived")
}
