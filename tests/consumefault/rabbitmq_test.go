package consumefault_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitconsume"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	sources["rabbitmq"] = func(context.Context) (consume.Source, error) {
		return rabbitconsume.New(rabbitconsume.Config{URL: os.Getenv("FAULT_RABBITMQ"), Queue: os.Getenv("FAULT_QUEUE")})
	}
}

// TestFaultRabbitMQConsumerKilled runs the fault test on the RabbitMQ that
// BULWARK_RABBITMQ_URL names, with a durable queue of its own.
func TestFaultRabbitMQConsumerKilled(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	var b [6]byte
	_, _ = crand.Read(b[:])
	queue := "consumefault_" + hex.EncodeToString(b[:])
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = ch.QueueDelete(queue, false, false, false) })
	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: url})
	require.NoError(t, err)
	defer pub.Close()
	runFault(t, brokerUnderTest{
		name: "rabbitmq",
		env:  []string{"FAULT_RABBITMQ=" + url, "FAULT_QUEUE=" + queue},
		publish: func(ctx context.Context, msgs []outbox.Message) error {
			for _, m := range msgs {
				m.Topic = queue // the default exchange routes by queue name
				if err := pub.Publish(ctx, m); err != nil {
					return err
				}
			}
			return nil
		},
		settled: func(t *testing.T, _ context.Context) {
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
			require.NoError(t, err)
			assert.Zero(t, q.Messages, "messages left in the queue")
		},
	})
}
