package natsconsume_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dlqEnv is a source stream with a natsoutbox publisher and a dead-letter
// stream of its own.
type dlqEnv struct {
	*env
	dlq     *natsconsume.DeadLetters
	dlqName string
	subject string
}

func newDLQEnv(t *testing.T, url string) *dlqEnv {
	e := newEnv(t, url)
	_, dlqName := natstest.Stream(t, e.js, 0)
	subject := dlqName + ".dead"
	dlq, err := natsconsume.NewDeadLetters(e.js, natsconsume.DeadLetterConfig{Stream: dlqName, Subject: subject})
	require.NoError(t, err)
	return &dlqEnv{env: e, dlq: dlq, dlqName: dlqName, subject: subject}
}

// letterOf returns a dead letter of the message d delivered, as a
// Consumer would make it.
func letterOf(m consume.Message) retry.DeadLetter[consume.Message] {
	start := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	return retry.DeadLetter[consume.Message]{
		Item: m,
		Err:  errors.New("consume: given up\nafter 2 attempts: card declined"),
		Attempts: []retry.Attempt{
			{Number: 1, Start: start, Duration: 3 * time.Millisecond, Err: errors.New("timeout"), Delay: time.Second},
			{Number: 2, Start: start.Add(time.Second), Duration: 5 * time.Millisecond, Err: errors.New("card declined")},
		},
	}
}

// TestDeadLetterListReplay: a natsoutbox message that arrived, failed and
// was dead-lettered is listed with everything it had and why it failed;
// Replay, within the source stream's duplicate window of its first
// publish, sends it back to its subject with the same ID, key and headers,
// where the durable delivers it as a first attempt; the letter is gone
// from the list.
func TestDeadLetterListReplay(t *testing.T) {
	e := newDLQEnv(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := natsoutbox.New(e.js, natsoutbox.Config{})
	require.NoError(t, err)
	om := outbox.NewMessage(e.name+".orders", "order-1", []byte(`{"total":42}`))
	om.Headers = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "note": " padded "}
	om.CreatedAt = time.Date(2026, 12, 7, 17, 0, 0, 5, time.UTC)
	require.NoError(t, pub.Publish(ctx, om))

	src := e.source(nil)
	d := receive(t, src, 1)[0]
	first := *d.Message()
	require.NoError(t, e.dlq.DeadLetter(ctx, letterOf(first)))
	require.NoError(t, d.Ack(ctx))

	letters, err := e.dlq.List(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	l := letters[0]
	assert.Equal(t, uint64(1), l.Seq)
	assert.Equal(t, om.ID.String(), l.Message.ID)
	assert.Equal(t, "order-1", l.Message.Key)
	assert.Equal(t, om.Topic, l.Message.Topic)
	assert.Equal(t, om.Payload, l.Message.Payload)
	assert.Equal(t, om.Headers, l.Message.Headers)
	assert.True(t, om.CreatedAt.Equal(l.Message.PublishedAt))
	assert.Equal(t, 1, l.Message.Attempt)
	assert.Nil(t, l.Message.Metadata)
	assert.EqualError(t, l.Err, "consume: given up\nafter 2 attempts: card declined")
	want := letterOf(first).Attempts
	require.Len(t, l.Attempts, 2)
	for i := range want {
		assert.Equal(t, want[i].Number, l.Attempts[i].Number)
		assert.True(t, want[i].Start.Equal(l.Attempts[i].Start))
		assert.Equal(t, want[i].Duration, l.Attempts[i].Duration)
		assert.Equal(t, want[i].Delay, l.Attempts[i].Delay)
		assert.EqualError(t, l.Attempts[i].Err, want[i].Err.Error())
	}
	assert.WithinDuration(t, time.Now(), l.At, time.Minute)

	require.NoError(t, e.dlq.Replay(ctx, l.Seq))
	again := receive(t, src, 1)[0]
	m := again.Message()
	assert.Equal(t, om.ID.String(), m.ID, "the replay keeps the ID (inboxes deduplicate on it)")
	assert.Equal(t, "order-1", m.Key)
	assert.Equal(t, om.Topic, m.Topic)
	assert.Equal(t, om.Payload, m.Payload)
	assert.Equal(t, om.Headers, m.Headers)
	assert.True(t, om.CreatedAt.Equal(m.PublishedAt))
	assert.Equal(t, 1, m.Attempt, "a replay starts its attempts again")
	assert.Equal(t, uint64(2), m.Metadata.(*natsconsume.Metadata).StreamSeq, "stored again, not dropped as a duplicate of the first publish")
	require.NoError(t, again.Ack(ctx))

	letters, err = e.dlq.List(ctx, 1, 10)
	require.NoError(t, err)
	assert.Empty(t, letters, "a replayed letter leaves the dead letters")
	assert.ErrorIs(t, e.dlq.Replay(ctx, l.Seq), natsconsume.ErrNotFound)
}

// TestReplayIsDeduplicatedWithinTheWindow: each letter's replay has a
// message ID of its own (two letters of one message are both replayed),
// and a replay published again under the same ID (a Replay tried again
// after its delete failed) is dropped as a duplicate.
func TestReplayIsDeduplicatedWithinTheWindow(t *testing.T) {
	e := newDLQEnv(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := consume.Message{ID: "m-1", Topic: e.name + ".x", Payload: []byte("p")}
	require.NoError(t, e.dlq.DeadLetter(ctx, letterOf(m)))
	require.NoError(t, e.dlq.Replay(ctx, 1))
	// The same letter dead-lettered again lands at sequence 2; its replay
	// is a different message ID, so it is stored too.
	require.NoError(t, e.dlq.DeadLetter(ctx, letterOf(m)))
	require.NoError(t, e.dlq.Replay(ctx, 2))
	info, err := e.stream.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), info.State.Msgs)
	// A replay message ID seen before is dropped as a duplicate.
	msg, err := natsconsume.Encode(m)
	require.NoError(t, err)
	ack, err := e.js.PublishMsg(ctx, msg, jetstream.WithMsgID("bulwark-replay:"+e.dlqName+":1"))
	require.NoError(t, err)
	assert.True(t, ack.Duplicate)
}

func TestDiscard(t *testing.T) {
	e := newDLQEnv(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range []string{"a", "b", "c"} {
		require.NoError(t, e.dlq.DeadLetter(ctx, letterOf(consume.Message{ID: id, Topic: e.name + ".x"})))
	}
	require.NoError(t, e.dlq.Discard(ctx, 2))
	letters, err := e.dlq.List(ctx, 1, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, []string{letters[0].Message.ID, letters[1].Message.ID})
	assert.Equal(t, []uint64{1, 3}, []uint64{letters[0].Seq, letters[1].Seq})
	assert.ErrorIs(t, e.dlq.Discard(ctx, 2), natsconsume.ErrNotFound)
	assert.ErrorIs(t, e.dlq.Discard(ctx, 99), natsconsume.ErrNotFound)
	info, err := e.stream.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.State.Msgs, "Discard publishes nothing")
}

// TestListPages: List pages through the letters from a sequence, and
// skips other subjects of the dead-letter stream.
func TestListPages(t *testing.T) {
	e := newDLQEnv(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		require.NoError(t, e.dlq.DeadLetter(ctx, letterOf(consume.Message{ID: string(rune('a' + i)), Topic: e.name + ".x"})))
		_, err := e.js.Publish(ctx, e.dlqName+".other", []byte("not a letter"))
		require.NoError(t, err)
	}
	page, err := e.dlq.List(ctx, 1, 2)
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []uint64{1, 3}, []uint64{page[0].Seq, page[1].Seq})
	page, err = e.dlq.List(ctx, page[1].Seq+1, 10)
	require.NoError(t, err)
	var got []string
	for _, l := range page {
		got = append(got, l.Message.ID)
	}
	assert.Equal(t, []string{"c", "d", "e"}, got)
	assert.ErrorIs(t, e.dlq.Discard(ctx, 2), natsconsume.ErrNotFound, "a message of another subject is not a letter")
	_, err = e.dlq.List(ctx, 1, 0)
	assert.EqualError(t, err, "natsconsume: List: limit must be in [1, 10000], got 0")
}

// TestDeadLetterKeepsHeadersNATSCannotCarry: a message from another
// broker, with header names NATS has no room for, keeps them through the
// letter and its replay.
func TestDeadLetterKeepsHeadersNATSCannotCarry(t *testing.T) {
	e := newDLQEnv(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := consume.Message{ID: "id with\nnewline", Key: " k ", Topic: e.name + ".x", Payload: []byte{0, 1},
		Headers: map[string]string{"has space": "1", "colon:name": "2", "naïve": "3", "Bulwark-Key": "4", "ok": "5\r\n"}}
	require.NoError(t, e.dlq.DeadLetter(ctx, letterOf(m)))
	letters, err := e.dlq.List(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, letters, 1)
	assert.Equal(t, m.ID, letters[0].Message.ID)
	assert.Equal(t, m.Key, letters[0].Message.Key)
	assert.Equal(t, m.Headers, letters[0].Message.Headers)
	require.NoError(t, e.dlq.Replay(ctx, letters[0].Seq))
	got := receive(t, e.source(nil), 1)[0]
	assert.Equal(t, m.ID, got.Message().ID)
	assert.Equal(t, m.Key, got.Message().Key)
	assert.Equal(t, m.Headers, got.Message().Headers)
	assert.Equal(t, m.Payload, got.Message().Payload)
	require.NoError(t, got.Ack(ctx))
}

// TestDeadLetterFailures: a letter no stream takes, or that the named
// stream does not take, is an error, and nothing is stored elsewhere.
func TestDeadLetterFailures(t *testing.T) {
	e := newDLQEnv(t, natstest.Server(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nowhere, err := natsconsume.NewDeadLetters(e.js, natsconsume.DeadLetterConfig{Stream: e.dlqName, Subject: "nowhere_" + randomName()})
	require.NoError(t, err)
	assert.Error(t, nowhere.DeadLetter(ctx, letterOf(consume.Message{ID: "a"})))
	wrong, err := natsconsume.NewDeadLetters(e.js, natsconsume.DeadLetterConfig{Stream: e.dlqName, Subject: e.name + ".dead"})
	require.NoError(t, err)
	err = wrong.DeadLetter(ctx, letterOf(consume.Message{ID: "a"}))
	assert.ErrorContains(t, err, "natsconsume: dead-lettering a to "+e.name+".dead on stream "+e.dlqName)
	info, err := e.stream.Info(ctx)
	require.NoError(t, err)
	assert.Zero(t, info.State.Msgs, "the stream that took the subject refused it")

	big := consume.Message{ID: "big", Topic: e.name + ".x", Payload: make([]byte, 2<<20)}
	assert.Error(t, e.dlq.DeadLetter(ctx, letterOf(big)), "over max_payload")
}

func TestNewDeadLettersRejectsInvalidConfig(t *testing.T) {
	_, js := natstest.Connect(t, natstest.Server(t))
	for cfg, want := range map[natsconsume.DeadLetterConfig]string{
		{Subject: "x"}:                      "natsconsume: DeadLetterConfig.Stream is required",
		{Stream: "a b", Subject: "x"}:       `natsconsume: DeadLetterConfig.Stream "a b" holds ' '`,
		{Stream: "S"}:                       "natsconsume: DeadLetterConfig.Subject: natsoutbox: the subject \"\" is empty",
		{Stream: "S", Subject: "dead.>"}:    `DeadLetterConfig.Subject: natsoutbox: the subject "dead.>" has the wildcard token ">"`,
		{Stream: "S", Subject: "dead..one"}: "has an empty token",
	} {
		_, err := natsconsume.NewDeadLetters(js, cfg)
		assert.ErrorContains(t, err, want)
		assert.True(t, strings.HasPrefix(err.Error(), "natsconsume: "))
	}
	_, err := natsconsume.NewDeadLetters(nil, natsconsume.DeadLetterConfig{Stream: "S", Subject: "x"})
	assert.EqualError(t, err, "natsconsume: NewDeadLetters: js must not be nil")
}
