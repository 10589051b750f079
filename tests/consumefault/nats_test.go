package consumefault_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const natsDurable = "fault"

func init() {
	sources["nats"] = func(ctx context.Context) (consume.Source, error) {
		nc, err := nats.Connect(os.Getenv("FAULT_NATS"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			return nil, err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return nil, err
		}
		return natsconsume.New(js, natsconsume.Config{
			Stream:  os.Getenv("FAULT_STREAM"),
			Durable: natsDurable,
			AckWait: 2 * time.Second, // a killed process's messages come back soon
			// On a server before 2.14, which cannot rewind the durable.
			WaitOutLeases: true,
		})
	}
}

// TestFaultNATSConsumerKilled runs the fault test on the embedded NATS
// server and on the one BULWARK_NATS_URL names.
func TestFaultNATSConsumerKilled(t *testing.T) {
	t.Run("broker=embedded", func(t *testing.T) { runNATS(t, natstest.Server(t)) })
	t.Run("broker=external", func(t *testing.T) { runNATS(t, natstest.External(t)) })
}

func runNATS(t *testing.T, url string) {
	_, js := natstest.Connect(t, url)
	stream, name := natstest.Stream(t, js, 0)
	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	require.NoError(t, err)
	runFault(t, brokerUnderTest{
		name: "nats",
		env:  []string{"FAULT_NATS=" + url, "FAULT_STREAM=" + name},
		publish: func(ctx context.Context, msgs []outbox.Message) error {
			for _, m := range msgs {
				m.Topic = name + "." + m.Topic
				if err := pub.Publish(ctx, m); err != nil {
					return err
				}
			}
			return nil
		},
		settled: func(t *testing.T, ctx context.Context) {
			c, err := stream.Consumer(ctx, natsDurable)
			require.NoError(t, err)
			info, err := c.Info(ctx)
			require.NoError(t, err)
			assert.Zero(t, info.NumAckPending, "messages delivered and not acknowledged")
			assert.Zero(t, info.NumPending, "messages not delivered")
		},
	})
}
