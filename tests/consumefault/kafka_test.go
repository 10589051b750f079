package consumefault_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	kafkaTopic = "orders"
	kafkaGroup = "fault"
)

func init() {
	sources["kafka"] = func(context.Context) (consume.Source, error) {
		return kafkaconsume.New(kafkaGroup, []string{kafkaTopic}, kafkaconsume.Config{
			// A short session, so that the group drops a killed member
			// quickly and its partitions move on.
			Opts: []kgo.Opt{kgo.SeedBrokers(strings.Split(os.Getenv("FAULT_KAFKA"), ",")...),
				kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
				kgo.FetchMaxWait(50 * time.Millisecond)},
		})
	}
}

// TestFaultKafkaConsumerKilled runs the fault test on an in-process kfake
// cluster (the consuming processes reach it over loopback TCP): a topic of
// eight partitions, keyed records.
func TestFaultKafkaConsumerKilled(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.SeedTopics(8, kafkaTopic, kafkaTopic+".retry"))
	require.NoError(t, err)
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	pub, err := kafkaoutbox.New(cl, kafkaoutbox.Config{})
	require.NoError(t, err)
	runFault(t, brokerUnderTest{
		name: "kafka",
		env:  []string{"FAULT_KAFKA=" + strings.Join(c.ListenAddrs(), ",")},
		publish: func(ctx context.Context, msgs []outbox.Message) error {
			for _, m := range msgs {
				m.Topic = kafkaTopic
				if err := pub.Publish(ctx, m); err != nil {
					return err
				}
			}
			return nil
		},
		settled: func(t *testing.T, ctx context.Context) {
			adm := kadm.NewClient(cl)
			ends, err := adm.ListEndOffsets(ctx, kafkaTopic)
			require.NoError(t, err)
			committed, err := adm.FetchOffsets(ctx, kafkaGroup)
			require.NoError(t, err)
			var behind int64
			ends.Each(func(end kadm.ListedOffset) {
				require.NoError(t, end.Err)
				done, ok := committed.Lookup(end.Topic, end.Partition)
				if !ok {
					behind += end.Offset
					return
				}
				behind += end.Offset - done.At
			})
			require.Len(t, ends[kafkaTopic], 8)
			assert.Zero(t, behind, "records not committed by the group")
		},
	})
}
