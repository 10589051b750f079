package kafkaconsume_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkadlq"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeadLetterAndReplay: a message that came through the retry topic is
// dead-lettered with its attempts; DecodeDeadLetter reads it back and
// Replay sends it to its original topic with the same ID, key, payload and
// headers, as attempt 1.
func TestDeadLetterAndReplay(t *testing.T) {
	e := newEnv(t, 1)
	dlq := e.topic + ".dlq"
	require.NoError(t, e.c.CreateTopic(dlq, 1, nil))
	pub, err := kafkaoutbox.New(e.prod, kafkaoutbox.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	om := outbox.NewMessage(e.topic, "order-7", []byte(`{"n":1}`))
	om.Headers = map[string]string{"traceparent": "00-abc-def-01"}
	require.NoError(t, pub.Publish(ctx, om))

	s := e.source(t, kafkaconsume.Config{})
	d := receive(t, s, 1)[0]
	require.NoError(t, d.Redeliver(ctx, 0))
	d = receive(t, s, 1)[0]
	m := *d.Message()
	require.Equal(t, 2, m.Attempt)

	sink, err := kafkaconsume.NewDeadLetters(e.prod, kafkaconsume.DeadLetterConfig{Topic: dlq})
	require.NoError(t, err)
	start := time.Now().Truncate(time.Millisecond)
	attempts := []retry.Attempt{
		{Number: 1, Start: start, Duration: time.Millisecond, Err: errors.New("declined"), Delay: time.Second},
		{Number: 2, Start: start.Add(time.Second), Duration: time.Millisecond, Err: errors.New("declined")},
	}
	require.NoError(t, sink.DeadLetter(ctx, retry.DeadLetter[consume.Message]{Item: m, Err: errors.New("gave up: declined"), Attempts: attempts}))
	require.NoError(t, d.Ack(ctx))

	recs, err := kafkatest.NewReader(t, e.c, dlq).Read(ctx, 1)
	require.NoError(t, err)
	l, err := kafkaconsume.DecodeDeadLetter(recs[0])
	require.NoError(t, err)
	assert.Equal(t, om.ID.String(), l.Item.ID)
	assert.Equal(t, e.topic, l.Item.Topic, "the original topic, not the retry topic")
	assert.Equal(t, "order-7", l.Item.Key)
	assert.Equal(t, om.Payload, l.Item.Payload)
	assert.Equal(t, om.Headers, l.Item.Headers)
	assert.Equal(t, 1, l.Item.Attempt)
	assert.Equal(t, om.CreatedAt.UnixNano(), l.Item.PublishedAt.UnixNano())
	assert.Equal(t, e.topic+".retry", l.Item.Metadata.(*kgo.Record).Topic, "the position it was consumed from")
	assert.EqualError(t, l.Err, "gave up: declined")
	require.Len(t, l.Attempts, 2)
	assert.EqualError(t, l.Attempts[1].Err, "declined")
	assert.Equal(t, time.Second, l.Attempts[0].Delay)

	_, err = kafkaconsume.DecodeDeadLetter(&kgo.Record{Topic: dlq})
	assert.ErrorIs(t, err, kafkadlq.ErrNotADeadLetter)

	replayed, err := kafkaconsume.Replay(ctx, e.prod, recs[0])
	require.NoError(t, err)
	assert.Equal(t, om.ID.String(), replayed.ID)
	assert.Equal(t, e.topic, replayed.Topic)
	again := receive(t, s, 1)[0].Message()
	assert.Equal(t, om.ID.String(), again.ID)
	assert.Equal(t, e.topic, again.Metadata.(*kgo.Record).Topic)
	assert.Equal(t, "order-7", again.Key)
	assert.Equal(t, om.Payload, again.Payload)
	assert.Equal(t, om.Headers, again.Headers)
	assert.Equal(t, 1, again.Attempt)
	// The replayed record is still an outbox message to kafkaoutbox.
	back, err := kafkaoutbox.Decode(again.Metadata.(*kgo.Record))
	require.NoError(t, err)
	assert.Equal(t, om.ID, back.ID)
}

// TestDeadLetterOfARecordWithoutID: a record without Bulwark-Id keeps its
// position ID through the dead letter and the replay.
func TestDeadLetterOfARecordWithoutID(t *testing.T) {
	e := newEnv(t, 1)
	dlq := e.topic + ".dlq"
	require.NoError(t, e.c.CreateTopic(dlq, 1, nil))
	e.produce(t, 0, "k", 1)
	s := e.source(t, kafkaconsume.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := receive(t, s, 1)[0]
	id := d.Message().ID
	assert.Equal(t, e.topic+"/0/0", id)
	sink, err := kafkaconsume.NewDeadLetters(e.prod, kafkaconsume.DeadLetterConfig{Topic: dlq})
	require.NoError(t, err)
	require.NoError(t, sink.DeadLetter(ctx, retry.DeadLetter[consume.Message]{Item: *d.Message(), Err: errors.New("bad")}))
	recs, err := kafkatest.NewReader(t, e.c, dlq).Read(ctx, 1)
	require.NoError(t, err)
	_, err = kafkaconsume.Replay(ctx, e.prod, recs[0])
	require.NoError(t, err)
	require.NoError(t, d.Ack(ctx))
	again := receive(t, s, 1)[0].Message()
	assert.Equal(t, id, again.ID)
	assert.Equal(t, int64(1), again.Metadata.(*kgo.Record).Offset)
}

func TestNewDeadLettersRejectsBadSettings(t *testing.T) {
	_, err := kafkaconsume.NewDeadLetters(nil, kafkaconsume.DeadLetterConfig{Topic: "x"})
	assert.EqualError(t, err, "kafkaconsume: NewDeadLetters: kafkadlq: New: cl must not be nil")
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	require.NoError(t, err)
	defer cl.Close()
	_, err = kafkaconsume.NewDeadLetters(cl, kafkaconsume.DeadLetterConfig{Topic: "no spaces allowed"})
	assert.ErrorContains(t, err, "kafkaconsume: NewDeadLetters: kafkadlq: Config.Topic must be")
	assert.PanicsWithValue(t, "kafkaconsume: DeadLetters used without NewDeadLetters", func() {
		_ = new(kafkaconsume.DeadLetters).DeadLetter(context.Background(), retry.DeadLetter[consume.Message]{})
	})
}
