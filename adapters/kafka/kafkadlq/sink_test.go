package kafkadlq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkadlq"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/retry/retrytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSinkConformance(t *testing.T) {
	retrytest.Run(t, func(t *testing.T) retrytest.Harness {
		c := kafkatest.Cluster(t)
		topic := kafkatest.Topic(t, c, 3)
		sink, err := kafkadlq.New(kafkatest.Client(t, c), kafkadlq.Config[retrytest.Item]{Topic: topic})
		require.NoError(t, err)
		r := kafkatest.NewReader(t, c, topic)
		return retrytest.Harness{
			Sink: sink,
			ReadBack: func(ctx context.Context, n int) ([]retrytest.Stored, error) {
				recs, err := r.Read(ctx, n)
				if err != nil {
					return nil, err
				}
				out := make([]retrytest.Stored, len(recs))
				for i, rec := range recs {
					l, err := kafkadlq.Decode[retrytest.Item](rec, nil)
					if err != nil {
						return nil, err
					}
					out[i] = retrytest.Stored{Item: rec.Value, Err: text(l.Err)}
					for _, a := range l.Attempts {
						out[i].Attempts = append(out[i].Attempts, retrytest.StoredAttempt{
							Number: a.Number, Start: a.Start, Duration: a.Duration, Err: text(a.Err), Delay: a.Delay,
						})
					}
				}
				return out, nil
			},
		}
	})
}

func text(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewValidatesConfig(t *testing.T) {
	c := kafkatest.Cluster(t)
	cl := kafkatest.Client(t, c)
	for _, topic := range []string{".", "..", "orders dlq", "ordres/dlq", strings.Repeat("x", 250)} {
		_, err := kafkadlq.New(cl, kafkadlq.Config[int]{Topic: topic})
		assert.EqualError(t, err, fmt.Sprintf("kafkadlq: Config.Topic must be 1 to 249 of [a-zA-Z0-9._-] (not . or ..), got %q", topic))
	}
	for _, topic := range []string{"", "orders.dlq", "a", "A-b_c.9", strings.Repeat("x", 249)} { // "" is DefaultTopic
		_, err := kafkadlq.New(cl, kafkadlq.Config[int]{Topic: topic})
		assert.NoError(t, err, topic)
	}
	_, err := kafkadlq.New(nil, kafkadlq.Config[int]{Topic: "dlq"})
	assert.EqualError(t, err, "kafkadlq: New: cl must not be nil")
	_, err = kafkadlq.New(kafkatest.Client(t, c, kgo.ManualFlushing()), kafkadlq.Config[int]{Topic: "dlq"})
	assert.EqualError(t, err, "kafkadlq: New: cl must flush automatically (the default), got kgo.ManualFlushing")
}

// TestDeadLetterReturnsOnlyOnceAcked: while the broker holds the produce
// request, DeadLetter waits; it returns nil once the broker acks.
func TestDeadLetterReturnsOnlyOnceAcked(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	sink, err := kafkadlq.New(kafkatest.Client(t, c), kafkadlq.Config[string]{Topic: topic})
	require.NoError(t, err)
	release := make(chan struct{})
	arrived := make(chan struct{})
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		close(arrived)
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	done := make(chan error, 1)
	go func() {
		done <- sink.DeadLetter(context.Background(), retry.DeadLetter[string]{Item: "x", Err: errors.New("boom")})
	}()
	<-arrived
	select {
	case err := <-done:
		t.Fatalf("DeadLetter returned %v before the broker acked", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("DeadLetter did not return after the ack")
	}
}

// TestRefusedLetterLeavesTheItemUnhandled: when the broker refuses the
// dead letter, the sink says so and retry.Handler reports the item as not
// handled, so the consumer does not commit past it.
func TestRefusedLetterLeavesTheItemUnhandled(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	sink, err := kafkadlq.New(kafkatest.Client(t, c), kafkadlq.Config[string]{Topic: topic})
	require.NoError(t, err)
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.PolicyViolation})
	r, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{Delay: time.Millisecond}})
	require.NoError(t, err)
	handle := retry.Handler(r, sink, func(context.Context, string) error { return errors.New("poison") })
	err = handle(context.Background(), "order-1")
	assert.ErrorIs(t, err, kerr.PolicyViolation)
	assert.ErrorContains(t, err, "poison")

	require.NoError(t, handle(context.Background(), "order-2"), "the next letter is stored")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := kafkatest.NewReader(t, c, topic).Read(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, `"order-2"`, string(recs[0].Value))
}

// TestRecordsAreDeadLetteredAsTheyCame: a consumer's Handler[*kgo.Record]
// dead-letters records with their key, value and headers, plus where they
// came from; Decode rebuilds the consumed record; the letter's timestamp
// is the sink's clock.
func TestRecordsAreDeadLetteredAsTheyCame(t *testing.T) {
	c := kafkatest.Cluster(t)
	src, dlq := kafkatest.Topic(t, c, 2), kafkatest.Topic(t, c, 2)
	cl := kafkatest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 4 {
		rec := &kgo.Record{Topic: src, Key: fmt.Appendf(nil, "order-%d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i),
			Headers: []kgo.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "t%d", i)}, {Key: kafkadlq.ErrorHeader, Value: []byte("stale, from an earlier dead-lettering")}}}
		require.NoError(t, cl.ProduceSync(ctx, rec).FirstErr())
	}
	consumed, err := kafkatest.NewReader(t, c, src).Read(ctx, 4)
	require.NoError(t, err)

	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	sink, err := kafkadlq.New(cl, kafkadlq.Config[*kgo.Record]{Topic: dlq, Clock: clocktest.New(at)})
	require.NoError(t, err)
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Millisecond}})
	require.NoError(t, err)
	handle := retry.Handler(r, sink, func(_ context.Context, rec *kgo.Record) error {
		return fmt.Errorf("cannot process %s", rec.Key)
	})
	for _, rec := range consumed {
		require.NoError(t, handle(ctx, rec))
	}

	letters, err := kafkatest.NewReader(t, c, dlq).Read(ctx, 4)
	require.NoError(t, err)
	byKey := map[string]*kgo.Record{}
	for _, rec := range consumed {
		byKey[string(rec.Key)] = rec
	}
	for _, lrec := range letters {
		orig := byKey[string(lrec.Key)]
		require.NotNil(t, orig, "letter key %q is a consumed record's key", lrec.Key)
		assert.Equal(t, orig.Value, lrec.Value)
		assert.True(t, lrec.Timestamp.Equal(at), "timestamp %s", lrec.Timestamp)

		l, err := kafkadlq.Decode[*kgo.Record](lrec, nil)
		require.NoError(t, err)
		got := l.Item
		assert.Equal(t, orig.Topic, got.Topic)
		assert.Equal(t, orig.Partition, got.Partition)
		assert.Equal(t, orig.Offset, got.Offset)
		assert.True(t, orig.Timestamp.Equal(got.Timestamp), "origin timestamp %s, want %s", got.Timestamp, orig.Timestamp)
		assert.Equal(t, orig.Key, got.Key)
		assert.Equal(t, orig.Value, got.Value)
		assert.Equal(t, []kgo.RecordHeader{{Key: "trace", Value: orig.Headers[0].Value}}, got.Headers, "its own headers, without stale dead-letter ones")
		assert.Contains(t, text(l.Err), "cannot process "+string(orig.Key))
		require.Len(t, l.Attempts, 3)
		assert.Equal(t, 3, l.Attempts[2].Number)
		assert.Equal(t, "cannot process "+string(orig.Key), text(l.Attempts[2].Err))
	}
}

// TestEncodeAndKey: a custom encoder and key; an encoding failure stores
// nothing and is returned.
func TestEncodeAndKey(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	type order struct{ ID, Total int }
	sink, err := kafkadlq.New(kafkatest.Client(t, c), kafkadlq.Config[order]{
		Topic: topic,
		Encode: func(o order) ([]byte, error) {
			if o.Total < 0 {
				return nil, errors.New("negative total")
			}
			return fmt.Appendf(nil, "%d:%d", o.ID, o.Total), nil
		},
		Key: func(o order) []byte { return fmt.Appendf(nil, "order-%d", o.ID) },
	})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = sink.DeadLetter(ctx, retry.DeadLetter[order]{Item: order{ID: 1, Total: -1}})
	assert.ErrorContains(t, err, "kafkadlq: encoding a dead letter's item: negative total")
	require.NoError(t, sink.DeadLetter(ctx, retry.DeadLetter[order]{Item: order{ID: 2, Total: 30}}))
	recs, err := kafkatest.NewReader(t, c, topic).Read(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, "order-2", string(recs[0].Key))
	assert.Equal(t, "2:30", string(recs[0].Value))
	l, err := kafkadlq.Decode(recs[0], func(rec *kgo.Record) (order, error) {
		var o order
		_, err := fmt.Sscanf(string(rec.Value), "%d:%d", &o.ID, &o.Total)
		return o, err
	})
	require.NoError(t, err)
	assert.Equal(t, order{ID: 2, Total: 30}, l.Item)
	assert.Nil(t, l.Err)
	assert.Empty(t, l.Attempts)
}

func TestDecodeRejectsForeignRecords(t *testing.T) {
	_, err := kafkadlq.Decode[int](&kgo.Record{Value: []byte("1")}, nil)
	assert.ErrorIs(t, err, kafkadlq.ErrNotADeadLetter)
	_, err = kafkadlq.Decode[int](&kgo.Record{Value: []byte("1"), Headers: []kgo.RecordHeader{{Key: kafkadlq.ErrorHeader}, {Key: kafkadlq.AttemptsHeader, Value: []byte("{")}}}, nil)
	assert.ErrorContains(t, err, "kafkadlq: bad Bulwark-Attempts header")
	_, err = kafkadlq.Decode[int](&kgo.Record{Value: []byte("1"), Headers: []kgo.RecordHeader{{Key: kafkadlq.ErrorHeader}, {Key: kafkadlq.AttemptsHeader, Value: []byte(`[{"number":1,"duration":"soon"}]`)}}}, nil)
	assert.ErrorContains(t, err, "attempt 1: duration")
	_, err = kafkadlq.Decode[int](&kgo.Record{Value: []byte("x"), Headers: []kgo.RecordHeader{{Key: kafkadlq.ErrorHeader}, {Key: kafkadlq.AttemptsHeader, Value: []byte(`[]`)}}}, nil)
	assert.ErrorContains(t, err, "kafkadlq: decoding a dead letter's item")
	_, err = kafkadlq.Decode[*kgo.Record](&kgo.Record{Headers: []kgo.RecordHeader{{Key: kafkadlq.ErrorHeader}, {Key: kafkadlq.AttemptsHeader, Value: []byte(`[]`)}, {Key: kafkadlq.OriginOffsetHeader, Value: []byte("x")}}}, nil)
	assert.ErrorContains(t, err, "bad origin headers")
}

func TestZeroSinkPanics(t *testing.T) {
	assert.PanicsWithValue(t, "kafkadlq: Sink used without New", func() {
		_ = new(kafkadlq.Sink[int]).DeadLetter(context.Background(), retry.DeadLetter[int]{})
	})
}
