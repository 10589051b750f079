package rabbitconsume_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeadLettersListAndReplay: messages dead-lettered through a
// rabbitdlq.Sink made with SinkConfig are listed (and left in the queue,
// in order), a non-letter in the queue is skipped and named, and Replay
// puts the matching ones back into the consumed queue with their ID, key,
// topic, headers and publication time, from attempt 1, removing only
// their letters.
func TestDeadLettersListAndReplay(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	q := rabbittest.Queue(t, url, x, nil, "#")
	dlq := q + ".dead"
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url, Exchange: x})
	require.NoError(t, err)
	defer pub.Close()
	var sent []outbox.Message
	for _, key := range []string{"a", "b", "c"} {
		m := outbox.NewMessage("orders.failed", key, []byte("payload "+key))
		m.Headers = map[string]string{"tenant": "t-" + key}
		require.NoError(t, pub.Publish(context.Background(), m))
		sent = append(sent, m)
	}

	s := newSource(t, rabbitconsume.Config{URL: url, Queue: q, DeadLetterQueue: dlq})
	sink, err := rabbitdlq.New(rabbitconsume.SinkConfig(url, dlq))
	require.NoError(t, err)
	defer sink.Close()
	ctx := context.Background()
	var msgs []consume.Message
	for _, d := range receive(t, s, 3) {
		m := *d.Message()
		m.Attempt = 4
		msgs = append(msgs, m)
		boom := errors.New("boom " + m.Key)
		require.NoError(t, sink.DeadLetter(ctx, retry.DeadLetter[consume.Message]{Item: m, Err: boom,
			Attempts: []retry.Attempt{{Number: 1, Start: time.Now(), Err: boom}}}))
		require.NoError(t, d.Ack(ctx))
	}
	publish(t, url, dlq, amqp.Publishing{MessageId: "not-a-letter", Body: []byte("?")})

	dl, err := rabbitconsume.NewDeadLetters(rabbitconsume.DeadLettersConfig{URL: url, Queue: dlq, ReplayTo: q})
	require.NoError(t, err)
	defer func() { assert.NoError(t, dl.Close()) }()
	letters, err := dl.List(ctx, 10)
	assert.ErrorIs(t, err, rabbitdlq.ErrNotADeadLetter)
	assert.ErrorContains(t, err, `message "not-a-letter"`)
	require.Len(t, letters, 3)
	for i, l := range letters {
		want := msgs[i]
		want.Metadata = nil
		assert.Equal(t, want.ID, l.Item.ID)
		assert.Equal(t, want.Key, l.Item.Key)
		assert.Equal(t, want.Topic, l.Item.Topic)
		assert.Equal(t, want.Headers, l.Item.Headers)
		assert.Equal(t, want.Payload, l.Item.Payload)
		assert.Equal(t, 4, l.Item.Attempt)
		assert.True(t, want.PublishedAt.Equal(l.Item.PublishedAt))
		assert.Equal(t, "boom "+want.Key, l.Err)
		assert.Equal(t, 1, l.AttemptCount)
	}
	assert.Equal(t, 4, queueLength(t, url, dlq), "List removed something")
	two, err := dl.List(ctx, 2)
	require.NoError(t, err)
	require.Len(t, two, 2)
	assert.Equal(t, msgs[0].ID, two[0].Item.ID, "List changed the order")

	n, err := dl.Replay(ctx, 10, func(l rabbitconsume.Letter) bool { return l.Item.Key == "b" })
	assert.ErrorIs(t, err, rabbitdlq.ErrNotADeadLetter)
	assert.Equal(t, 1, n)
	d := receive(t, s, 1)[0]
	got := d.Message()
	assert.Equal(t, sent[1].ID.String(), got.ID)
	assert.Equal(t, "b", got.Key)
	assert.Equal(t, "orders.failed", got.Topic)
	assert.Equal(t, map[string]string{"tenant": "t-b"}, got.Headers)
	assert.Equal(t, []byte("payload b"), got.Payload)
	assert.True(t, sent[1].CreatedAt.Equal(got.PublishedAt))
	assert.Equal(t, 1, got.Attempt)
	require.NoError(t, d.Ack(ctx))
	assert.Equal(t, 3, queueLength(t, url, dlq))

	n, err = dl.Replay(ctx, 1, nil)
	assert.NoError(t, err, "stopped at max before the non-letter")
	assert.Equal(t, 1, n)
	assert.Equal(t, sent[0].ID.String(), receive(t, s, 1)[0].Message().ID)

	left, err := dl.List(ctx, 10)
	assert.Error(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, msgs[2].ID, left[0].Item.ID)
}

func TestNewDeadLettersValidates(t *testing.T) {
	dial := func(context.Context) (*amqp.Connection, error) { return nil, nil }
	const url = "amqp://guest:guest@127.0.0.1:5672/"
	for _, tt := range []struct {
		name string
		cfg  rabbitconsume.DeadLettersConfig
		want string
	}{
		{"both", rabbitconsume.DeadLettersConfig{URL: url, Dial: dial, Queue: "d", ReplayTo: "q"}, "rabbitconsume: set DeadLettersConfig.URL or DeadLettersConfig.Dial, not both"},
		{"bad URL", rabbitconsume.DeadLettersConfig{URL: "x", Queue: "d", ReplayTo: "q"}, "rabbitconsume: DeadLettersConfig.URL: AMQP scheme must be either 'amqp://' or 'amqps://'"},
		{"no queue", rabbitconsume.DeadLettersConfig{URL: url, ReplayTo: "q"}, "rabbitconsume: DeadLettersConfig.Queue must be 1 to 255 bytes, got 0"},
		{"no target", rabbitconsume.DeadLettersConfig{URL: url, Queue: "d"}, "rabbitconsume: DeadLettersConfig.ReplayTo must be 1 to 255 bytes, got 0"},
		{"same", rabbitconsume.DeadLettersConfig{URL: url, Queue: "d", ReplayTo: "d"}, `rabbitconsume: DeadLettersConfig.ReplayTo must not be the dead-letter queue "d"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rabbitconsume.NewDeadLetters(tt.cfg)
			assert.EqualError(t, err, tt.want)
		})
	}
	dl, err := rabbitconsume.NewDeadLetters(rabbitconsume.DeadLettersConfig{URL: url, Queue: "d", ReplayTo: "q"})
	require.NoError(t, err)
	_, err = dl.List(context.Background(), 0)
	assert.EqualError(t, err, "rabbitconsume: List: max must be >= 1, got 0")
	_, err = dl.Replay(context.Background(), 0, nil)
	assert.EqualError(t, err, "rabbitconsume: Replay: max must be >= 1, got 0")
	require.NoError(t, dl.Close())
}
