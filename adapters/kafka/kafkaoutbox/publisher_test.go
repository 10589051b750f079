package kafkaoutbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPublisherConformance(t *testing.T) {
	outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness {
		c := kafkatest.Cluster(t)
		topic := kafkatest.Topic(t, c, 4)
		pub, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{})
		require.NoError(t, err)
		r := kafkatest.NewReader(t, c, topic)
		return outboxtest.PublisherHarness{
			Publisher: pub,
			Topic:     topic,
			// Kafka's topic names, kafkaoutbox's own headers, and the
			// client's largest record (ProducerBatchMaxBytes).
			Limits: outboxtest.Limits{
				MaxTopic:           kafkaoutbox.MaxTopicLen,
				MaxHeaders:         1_000_012,
				MaxPayload:         1_000_012,
				InvalidTopics:      []string{"a b", "slash/x", "colon:x", "é", "!.", "!.."},
				InvalidHeaderNames: []string{kafkaoutbox.IDHeader, kafkaoutbox.CreatedAtHeader, "bulwark-id", "Bulwark-Other"},
			},
			// Kafka keeps every copy: consumers deduplicate (see
			// TestRepublishedMessagesReachAnInboxOnce).
			Deduplicates: false,
			Receive: func(ctx context.Context, n int) ([]outbox.Message, error) {
				recs, err := r.Read(ctx, n)
				if err != nil {
					return nil, err
				}
				ms := make([]outbox.Message, len(recs))
				for i, rec := range recs {
					if ms[i], err = kafkaoutbox.Decode(rec); err != nil {
						return nil, err
					}
				}
				return ms, nil
			},
		}
	})
}

func TestNewRejectsClientsThatCannotPublishDurably(t *testing.T) {
	c := kafkatest.Cluster(t)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
		want string
	}{
		{"LeaderAck", []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck())},
			"kafkaoutbox: New: cl must wait for all in-sync replicas (kgo.RequiredAcks(kgo.AllISRAcks()), the default), got acks from leader only"},
		{"NoAck", []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.NoAck())},
			"kafkaoutbox: New: cl must wait for all in-sync replicas (kgo.RequiredAcks(kgo.AllISRAcks()), the default), got acks from none"},
		{"NotIdempotent", []kgo.Opt{kgo.DisableIdempotentWrite()},
			"kafkaoutbox: New: cl must write idempotently (the default), got kgo.DisableIdempotentWrite"},
		{"ManualFlushing", []kgo.Opt{kgo.ManualFlushing()},
			"kafkaoutbox: New: cl must flush automatically (the default), got kgo.ManualFlushing"},
		{"Transactional", []kgo.Opt{kgo.TransactionalID("tx")},
			`kafkaoutbox: New: cl must not be transactional, got kgo.TransactionalID("tx")`},
		{"DefaultTopicAlways", []kgo.Opt{kgo.DefaultProduceTopic("t"), kgo.DefaultProduceTopicAlways()},
			"kafkaoutbox: New: cl must produce to each record's topic, got kgo.DefaultProduceTopicAlways"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kafkaoutbox.New(kafkatest.Client(t, c, tc.opts...), kafkaoutbox.Config{})
			assert.EqualError(t, err, tc.want)
		})
	}
	_, err := kafkaoutbox.New(nil, kafkaoutbox.Config{})
	assert.EqualError(t, err, "kafkaoutbox: New: cl must not be nil")
	assert.PanicsWithValue(t, "kafkaoutbox: Publisher used without New", func() {
		_ = new(kafkaoutbox.Publisher).Publish(context.Background(), outbox.Message{})
	})
	_, err = kafkaoutbox.New(kafkatest.Client(t, c, kgo.ProducerLinger(0)), kafkaoutbox.Config{})
	assert.NoError(t, err, "other settings are the user's")
}

func TestTopicMapping(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	pub, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{
		Topic: func(m outbox.Message) string { return topic + "." + m.Topic },
	})
	require.NoError(t, err)
	require.NoError(t, c.CreateTopic(topic+".orders", 1, nil))
	m := outbox.NewMessage("orders", "k", []byte("x"))
	require.NoError(t, pub.Publish(context.Background(), m))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recs, err := kafkatest.NewReader(t, c, topic+".orders").Read(ctx, 1)
	require.NoError(t, err)
	got, err := kafkaoutbox.Decode(recs[0])
	require.NoError(t, err)
	assert.Equal(t, m.ID, got.ID)
	assert.Equal(t, topic+".orders", got.Topic)
}

// TestRecordLayout pins what other Kafka clients see: the key as the record
// key, the ID and creation time as headers, the message's headers beside
// them (its own Bulwark-Id does not override the real one).
func TestRecordLayout(t *testing.T) {
	m := outbox.Message{
		ID: uuid.MustParse("0190a0f0-0000-7000-8000-000000000001"), Topic: "orders", Key: "order-7",
		Payload: []byte("{}"), Headers: map[string]string{"trace": "t1", kafkaoutbox.IDHeader: "forged"},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)),
	}
	rec := kafkaoutbox.Record(m)
	assert.Equal(t, "orders", rec.Topic)
	assert.Equal(t, []byte("order-7"), rec.Key)
	assert.Equal(t, []byte("{}"), rec.Value)
	assert.True(t, rec.Timestamp.IsZero(), "the produce time, not CreatedAt, is the record's timestamp")
	assert.Equal(t, []kgo.RecordHeader{
		{Key: kafkaoutbox.IDHeader, Value: []byte("0190a0f0-0000-7000-8000-000000000001")},
		{Key: kafkaoutbox.CreatedAtHeader, Value: []byte("2026-01-02T02:04:05.123456789Z")},
		{Key: "trace", Value: []byte("t1")},
	}, rec.Headers)
	got, err := kafkaoutbox.Decode(rec)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"trace": "t1"}, got.Headers)
	assert.Equal(t, m.ID, got.ID)
}

// TestBrokerRefusalIsAnError: a produce the broker refuses with an error
// the client does not retry comes back from Publish at once, with Kafka's
// error code, and nothing is stored.
func TestBrokerRefusalIsAnError(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	pub, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{})
	require.NoError(t, err)
	f := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.PolicyViolation})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = pub.Publish(ctx, outbox.NewMessage(topic, "k", []byte("refused")))
	assert.ErrorIs(t, err, kerr.PolicyViolation)
	assert.NoError(t, ctx.Err(), "the refusal came back before the deadline")
	assert.Equal(t, 1, f.Hits())

	ok := outbox.NewMessage(topic, "k", []byte("accepted"))
	require.NoError(t, pub.Publish(ctx, ok), "the next publish goes through")
	recs, err := kafkatest.NewReader(t, c, topic).Read(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, []byte("accepted"), recs[0].Value, "the refused record was not stored")
}

// TestPublishReturnsWhenContextEndsInFlight: a broker that takes the
// produce request and never answers holds the record in flight, where the
// client cannot fail it. Publish waits for the ack meanwhile, and still
// returns as soon as ctx ends.
func TestPublishReturnsWhenContextEndsInFlight(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	pub, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{})
	require.NoError(t, err)
	release := make(chan struct{})
	defer close(release)
	arrived := make(chan struct{}, 1)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		c.SleepControl(func() { <-release })
		return nil, nil, false // then let the cluster answer
	})
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		end     func(context.CancelFunc)
		want    error
	}{
		{"Cancel", time.Minute, func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"Deadline", 300 * time.Millisecond, func(context.CancelFunc) {}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- pub.Publish(ctx, outbox.NewMessage(topic, "k", []byte(tc.name))) }()
			if tc.name == "Cancel" {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					t.Fatal("the produce request never reached the broker")
				}
				select {
				case err := <-errc:
					t.Fatalf("Publish returned %v before the broker acked", err)
				case <-time.After(100 * time.Millisecond):
				}
			}
			tc.end(cancel)
			select {
			case err := <-errc:
				assert.ErrorIs(t, err, tc.want)
			case <-time.After(3 * time.Second):
				t.Fatal("Publish did not return after its context ended")
			}
		})
	}
}

// TestPublishDoesNotWaitForLinger: the relay publishes a key's messages
// one at a time, so Publish must send its record at once rather than let
// the partition linger for more.
func TestPublishDoesNotWaitForLinger(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 1)
	pub, err := kafkaoutbox.New(kafkatest.Client(t, c, kgo.ProducerLinger(2*time.Second)), kafkaoutbox.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The client lingers on its first record to a topic it has no
	// metadata for yet.
	require.NoError(t, pub.Publish(ctx, outbox.NewMessage(topic, "k", []byte("first"))))
	start := time.Now()
	for i := range 5 {
		require.NoError(t, pub.Publish(ctx, outbox.NewMessage(topic, "k", []byte{byte(i)})))
	}
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "five publishes waited for the linger")
}

func TestDecodeRejectsForeignRecords(t *testing.T) {
	_, err := kafkaoutbox.Decode(&kgo.Record{Topic: "t"})
	assert.ErrorIs(t, err, outbox.ErrNotAnOutboxMessage)
	_, err = kafkaoutbox.Decode(&kgo.Record{Headers: []kgo.RecordHeader{{Key: kafkaoutbox.IDHeader, Value: []byte("not-a-uuid")}}})
	assert.ErrorIs(t, err, outbox.ErrNotAnOutboxMessage)
	_, err = kafkaoutbox.Decode(&kgo.Record{Headers: []kgo.RecordHeader{
		{Key: kafkaoutbox.IDHeader, Value: []byte("0190a0f0-0000-7000-8000-000000000000")},
		{Key: kafkaoutbox.CreatedAtHeader, Value: []byte("yesterday")},
	}})
	assert.ErrorContains(t, err, "bad Bulwark-Created-At")
	assert.False(t, errors.Is(err, outbox.ErrNotAnOutboxMessage))
}

// FuzzDecode: any record decodes to a message or an error, never a panic;
// a decoded message encodes (Record) and decodes again unchanged.
func FuzzDecode(f *testing.F) {
	f.Add("orders", []byte("k"), "0190a0f0-0000-7000-8000-000000000000", "2026-01-02T03:04:05.123456789Z", "h", "v", []byte("{}"))
	f.Add("", []byte(nil), "", "", "", "", []byte(nil))
	f.Add("s", []byte{0xff}, "urn:uuid:0190a0f0-0000-7000-8000-000000000000", "not a time", "Bulwark-Id", "x", []byte{0})
	f.Add("s", []byte("k"), "{0190a0f0-0000-7000-8000-000000000000}", "", "Bulwark-Created-At", "2026-01-02T03:04:05Z", []byte("v"))
	f.Add("s", []byte("k"), "0190a0f0-0000-7000-8000-000000000000", "0000-01-01T00:00:00+01:00", "", "", []byte("v"))
	f.Fuzz(func(t *testing.T, topic string, key []byte, id, created, hk string, hv string, value []byte) {
		rec := &kgo.Record{Topic: topic, Key: key, Value: value, Headers: []kgo.RecordHeader{
			{Key: kafkaoutbox.IDHeader, Value: []byte(id)},
			{Key: kafkaoutbox.CreatedAtHeader, Value: []byte(created)},
			{Key: hk, Value: []byte(hv)},
		}}
		m, err := kafkaoutbox.Decode(rec)
		if err != nil {
			return
		}
		m2, err := kafkaoutbox.Decode(kafkaoutbox.Record(m))
		require.NoError(t, err)
		assert.Equal(t, m.ID, m2.ID)
		assert.Equal(t, m.Topic, m2.Topic)
		assert.Equal(t, m.Key, m2.Key)
		assert.Equal(t, m.Payload, m2.Payload)
		assert.Equal(t, m.Headers, m2.Headers)
		assert.True(t, m.CreatedAt.Equal(m2.CreatedAt), "CreatedAt %s became %s", m.CreatedAt, m2.CreatedAt)
	})
}
