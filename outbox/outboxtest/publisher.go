package outboxtest

import (
	"context"
	"fmt"
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
	// Topic is the topic (or prefix of topics) the test may publish to;
	// "outboxtest" when empty.
	Topic string
	// Receive waits for n messages, or fails when ctx is done.
	Receive func(ctx context.Context, n int) ([]outbox.Message, error)
	// Deduplicates says that the broker drops a message whose ID it has
	// seen before (within its duplicate window); RunPublisher then checks
	// that a re-published message is delivered once.
	Deduplicates bool
}

// RunPublisher runs the publisher conformance suite.
func RunPublisher(t *testing.T, newHarness func(t *testing.T) PublisherHarness) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, PublisherHarness)
	}{
		{"RoundTrip", testPublishRoundTrip},
		{"KeyOrder", testPublishKeyOrder},
		{"CancelledContext", testPublishCancelled},
		{"Duplicates", testPublishDuplicates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Topic == "" {
				h.Topic = "outboxtest"
			}
			tc.test(t, h)
		})
	}
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
	got := receive(t, h, 1)[0]
	assert.Equal(t, m.ID, got.ID)
	assert.Equal(t, m.Topic, got.Topic)
	assert.Equal(t, m.Key, got.Key)
	assert.Equal(t, m.Payload, got.Payload)
	for k, v := range m.Headers {
		assert.Equal(t, v, got.Headers[k], "header %s", k)
	}
	assert.True(t, m.CreatedAt.Equal(got.CreatedAt), "CreatedAt %s, want %s", got.CreatedAt, m.CreatedAt)
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

func testPublishDuplicates(t *testing.T, h PublisherHarness) {
	if !h.Deduplicates {
		t.Skip("the publisher does not claim to drop duplicates")
	}
	first := outbox.NewMessage(h.Topic, "k", []byte("once"))
	second := outbox.NewMessage(h.Topic, "k", []byte("after"))
	for _, m := range []outbox.Message{first, first, second, first} {
		require.NoError(t, h.Publisher.Publish(context.Background(), m), "a duplicate publish succeeds")
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
