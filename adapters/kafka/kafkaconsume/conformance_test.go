package kafkaconsume_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/consume/consumetest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConformance runs consume's conformance suite on a Source over a
// kfake cluster: a topic of three partitions and its retry topic, one
// consumer group per subtest.
func TestConformance(t *testing.T) {
	consumetest.Run(t, func(t *testing.T) consumetest.Harness {
		e := newEnv(t, 3)
		prod := kafkatest.Client(t, e.c) // partitions by key
		return consumetest.Harness{
			NewSource: func(t *testing.T) consume.Source { return e.source(t, kafkaconsume.Config{}) },
			Publish: func(t *testing.T, ctx context.Context, msgs ...consume.Message) {
				for _, m := range msgs {
					rec := &kgo.Record{Topic: e.topic, Key: []byte(m.Key), Value: m.Payload,
						Headers: []kgo.RecordHeader{{Key: kafkaconsume.IDHeader, Value: []byte(m.ID)}}}
					for k, v := range m.Headers {
						rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
					}
					require.NoError(t, prod.ProduceSync(ctx, rec).FirstErr())
				}
			},
		}
	})
}
