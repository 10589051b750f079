package rabbitconsume_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/consume/consumetest"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
)

// publishMessages publishes msgs to queue as rabbitoutbox would (the ID as
// message-id, the key in its header), confirmed.
func publishMessages(t *testing.T, ctx context.Context, url, queue string, msgs ...consume.Message) {
	t.Helper()
	ch := rabbittest.Channel(t, url)
	require.NoError(t, ch.Confirm(false))
	for _, m := range msgs {
		h := amqp.Table{rabbitoutbox.KeyHeader: m.Key}
		for k, v := range m.Headers {
			h[k] = v
		}
		c, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{
			MessageId: m.ID, Headers: h, Body: m.Payload, DeliveryMode: amqp.Persistent,
		})
		require.NoError(t, err)
		ok, err := c.WaitContext(ctx)
		require.NoError(t, err)
		require.True(t, ok, "nacked")
	}
}

func TestConformance(t *testing.T) {
	url := rabbittest.URL(t)
	consumetest.Run(t, func(t *testing.T) consumetest.Harness {
		q := rabbittest.Queue(t, url, "", nil)
		return consumetest.Harness{
			NewSource: func(t *testing.T) consume.Source { return newSource(t, rabbitconsume.Config{URL: url, Queue: q}) },
			Publish: func(t *testing.T, ctx context.Context, msgs ...consume.Message) {
				publishMessages(t, ctx, url, q, msgs...)
			},
		}
	})
}
