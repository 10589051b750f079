package rabbitoutbox_test

import (
	"github.com/bulwark-go/bulwark/outbox"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	d := amqp.Delivery{
		MessageId:  "0190a0f0-0000-7000-8000-000000000000",
		RoutingKey: "events.orders",
		Body:       []byte("{}"),
		Headers: amqp.Table{
			rabbitoutbox.KeyHeader:       "order-1",
			rabbitoutbox.TopicHeader:     "orders",
			rabbitoutbox.CreatedAtHeader: "2026-01-02T03:04:05.123456789Z",
			"trace-id":                   "abc",
			"x-death":                    []any{amqp.Table{"count": int64(1)}},
		},
	}
	m, err := rabbitoutbox.Decode(d)
	require.NoError(t, err)
	assert.Equal(t, "0190a0f0-0000-7000-8000-000000000000", m.ID.String())
	assert.Equal(t, "orders", m.Topic)
	assert.Equal(t, "order-1", m.Key)
	assert.Equal(t, []byte("{}"), m.Payload)
	assert.Equal(t, map[string]string{"trace-id": "abc"}, m.Headers)
	assert.True(t, m.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)))

	delete(d.Headers, rabbitoutbox.TopicHeader)
	m, err = rabbitoutbox.Decode(d)
	require.NoError(t, err)
	assert.Equal(t, "events.orders", m.Topic, "the routing key without a topic header")
}

func TestDecodeRejectsForeignMessages(t *testing.T) {
	_, err := rabbitoutbox.Decode(amqp.Delivery{})
	assert.ErrorIs(t, err, outbox.ErrNotAnOutboxMessage)
	_, err = rabbitoutbox.Decode(amqp.Delivery{MessageId: "not-a-uuid"})
	assert.ErrorIs(t, err, outbox.ErrNotAnOutboxMessage)
	_, err = rabbitoutbox.Decode(amqp.Delivery{MessageId: "0190a0f0-0000-7000-8000-000000000000", Headers: amqp.Table{rabbitoutbox.CreatedAtHeader: "yesterday"}})
	assert.ErrorContains(t, err, "bad bulwark-created-at")
}

// FuzzDecode: any delivery decodes to a message or an error, never a panic;
// and a decoded message survives a second encode/decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Add("orders", "0190a0f0-0000-7000-8000-000000000000", "k", "orders", "2026-01-02T03:04:05.123456789Z", "h", "v", []byte("{}"))
	f.Add("", "", "", "", "", "", "", []byte(nil))
	f.Add("rk", "urn:uuid:0190a0f0-0000-7000-8000-000000000000", "", "", "not a time", rabbitoutbox.KeyHeader, "x", []byte{0})
	f.Fuzz(func(t *testing.T, routingKey, id, key, topic, created, hk, hv string, body []byte) {
		d := amqp.Delivery{MessageId: id, RoutingKey: routingKey, Body: body, Headers: amqp.Table{
			rabbitoutbox.KeyHeader: key, rabbitoutbox.TopicHeader: topic, rabbitoutbox.CreatedAtHeader: created, hk: hv,
		}}
		m, err := rabbitoutbox.Decode(d)
		if err != nil {
			return
		}
		again := amqp.Delivery{MessageId: m.ID.String(), RoutingKey: routingKey, Body: m.Payload, Headers: amqp.Table{
			rabbitoutbox.KeyHeader: m.Key, rabbitoutbox.TopicHeader: m.Topic,
			rabbitoutbox.CreatedAtHeader: m.CreatedAt.UTC().Format(time.RFC3339Nano),
		}}
		for k, v := range m.Headers {
			again.Headers[k] = v
		}
		m2, err := rabbitoutbox.Decode(again)
		require.NoError(t, err)
		assert.Equal(t, m.ID, m2.ID)
		assert.Equal(t, m.Key, m2.Key)
		assert.Equal(t, m.Topic, m2.Topic)
		assert.Equal(t, m.Headers, m2.Headers)
		assert.True(t, m.CreatedAt.Equal(m2.CreatedAt))
	})
}
