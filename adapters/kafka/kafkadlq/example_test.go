package kafkadlq_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkadlq"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A consumer's handler retries each record and dead-letters what still
// fails to a topic; a second consumer reads the letters back.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "payments", "payments.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	cl, err := kgo.NewClient(seeds)
	if err != nil {
		panic(err)
	}
	defer cl.Close()

	sink, err := kafkadlq.New(cl, kafkadlq.Config[*kgo.Record]{Topic: "payments.dlq"})
	if err != nil {
		panic(err)
	}
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Millisecond}})
	if err != nil {
		panic(err)
	}
	handle := retry.Handler(r, sink, func(ctx context.Context, rec *kgo.Record) error {
		return errors.New("card declined")
	})
	// A record as a consumer would have polled it from "payments".
	rec := &kgo.Record{Topic: "payments", Partition: 0, Offset: 41, Key: []byte("order-9"), Value: []byte(`{"amount":120}`)}
	if err := handle(ctx, rec); err != nil {
		panic(err) // not stored: leave the record for redelivery
	}

	dlq, err := kgo.NewClient(seeds, kgo.ConsumeTopics("payments.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer dlq.Close()
	for seen := 0; seen < 1; {
		for _, lrec := range dlq.PollFetches(ctx).Records() {
			l, err := kafkadlq.Decode[*kgo.Record](lrec, nil)
			if err != nil {
				panic(err)
			}
			fmt.Printf("%s from %s@%d: %d attempts, last: %v\n", l.Item.Key, l.Item.Topic, l.Item.Offset, len(l.Attempts), l.Attempts[len(l.Attempts)-1].Err)
			fmt.Println(l.Err)
			seen++
		}
	}
	// Output:
	// order-9 from payments@41: 3 attempts, last: card declined
	// retry: gave up after 3 attempts (max attempts reached): card declined
}
