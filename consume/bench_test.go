package consume_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark/consume"
)

// BenchmarkConsumer measures messages through an empty handler on a
// MemoryQueue (the queue's own cost included), keyed over 100 keys and
// unkeyed, from Run to a Close that acknowledged them all.
func BenchmarkConsumer(b *testing.B) {
	for _, keyed := range []bool{true, false} {
		name := "unkeyed"
		if keyed {
			name = "keyed"
		}
		b.Run(name, func(b *testing.B) {
			q := consume.NewMemoryQueue(nil)
			msgs := make([]consume.Message, b.N)
			for i := range msgs {
				msgs[i].ID = strconv.Itoa(i)
				if keyed {
					msgs[i].Key = strconv.Itoa(i % 100)
				}
			}
			q.Publish(msgs...)
			var handled atomic.Int64
			done := make(chan struct{})
			c, err := consume.New(q.Source(), consume.HandlerFunc(func(context.Context, *consume.Message) error {
				if handled.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			}), consume.Config{Concurrency: 8, MaxPending: 256})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			ran := make(chan error, 1)
			go func() { ran <- c.Run(context.Background()) }()
			<-done
			if err := c.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			<-ran
			b.StopTimer()
			if q.Acked() != b.N {
				b.Fatalf("acked %d of %d", q.Acked(), b.N)
			}
		})
	}
}
