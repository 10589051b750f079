package kafkaconsume_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A Consumer handles what kafkaoutbox published to an in-process kfake
// cluster: one message fails for good and is dead-lettered while the next
// one of its key goes on; the letter is read back and replayed.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.SeedTopics(1, "orders", "orders.retry", "orders.dlq"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	seeds := kgo.SeedBrokers(cluster.ListenAddrs()...)
	producer, err := kgo.NewClient(seeds)
	if err != nil {
		panic(err)
	}
	defer producer.Close()
	pub, err := kafkaoutbox.New(producer, kafkaoutbox.Config{})
	if err != nil {
		panic(err)
	}
	for i := 1; i <= 3; i++ {
		if err := pub.Publish(ctx, outbox.NewMessage("orders", "customer-7", fmt.Appendf(nil, `{"order":%d}`, i))); err != nil {
			panic(err)
		}
	}

	src, err := kafkaconsume.New("billing", []string{"orders"}, kafkaconsume.Config{Opts: []kgo.Opt{seeds}})
	if err != nil {
		panic(err)
	}
	dlq, err := kafkaconsume.NewDeadLetters(producer, kafkaconsume.DeadLetterConfig{Topic: "orders.dlq"})
	if err != nil {
		panic(err)
	}
	var declined atomic.Bool
	handled := make(chan string, 8)
	c, err := consume.New(src, consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		if strings.Contains(string(m.Payload), `"order":2`) && declined.CompareAndSwap(false, true) {
			return consume.Permanent(errors.New("card declined"))
		}
		handled <- fmt.Sprintf("%s %s (attempt %d)", m.Key, m.Payload, m.Attempt)
		return nil
	}), consume.Config{DeadLetters: dlq})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	fmt.Println(<-handled)
	fmt.Println(<-handled)

	// List the dead letters and replay them.
	letters, err := kgo.NewClient(seeds, kgo.ConsumeTopics("orders.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		panic(err)
	}
	defer letters.Close()
	for seen := 0; seen < 1; {
		for _, rec := range letters.PollFetches(ctx).Records() {
			l, err := kafkaconsume.DecodeDeadLetter(rec)
			if err != nil {
				panic(err)
			}
			fmt.Printf("dead letter: %s %s after %d attempt(s): %v\n", l.Item.Key, l.Item.Payload, len(l.Attempts), l.Attempts[len(l.Attempts)-1].Err)
			if _, err := kafkaconsume.Replay(ctx, producer, rec); err != nil {
				panic(err)
			}
			seen++
		}
	}
	fmt.Println(<-handled)

	if err := c.Close(ctx); err != nil {
		panic(err)
	}
	fmt.Println(<-done)
	// Output:
	// customer-7 {"order":1} (attempt 1)
	// customer-7 {"order":3} (attempt 1)
	// dead letter: customer-7 {"order":2} after 1 attempt(s): card declined
	// customer-7 {"order":2} (attempt 1)
	// <nil>
}
