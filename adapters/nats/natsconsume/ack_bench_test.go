package natsconsume

import (
	"context"
	"sync"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/consume"
)

// BenchmarkAck measures receiving and acknowledging messages on an embedded
// server, 100 per Receive, acked by 16 goroutines as a Consumer's handlers
// would: with the server's confirmation, waited for by each Ack
// ("confirmed") or collected by AckAsync while the goroutine moves on, as a
// Consumer does ("async"), and without it (Config.AckWithoutConfirm).
func BenchmarkAck(b *testing.B) {
	url := natstest.Server(b)
	for _, mode := range []string{"confirmed", "async", "unconfirmed"} {
		b.Run(mode, func(b *testing.B) {
			nc, js := natstest.Connect(b, url)
			_, name := natstest.Stream(b, js, 0)
			ctx := context.Background()
			for i := range b.N {
				msg, _ := encode(consume.Message{ID: string(rune(i)), Topic: name, Payload: make([]byte, 100)})
				if _, err := js.PublishMsgAsync(msg); err != nil {
					b.Fatal(err)
				}
			}
			<-js.PublishAsyncComplete()
			src, err := New(js, Config{Stream: name, Durable: "bench", MaxAckPending: Unlimited, MaxBatch: 100, AckWithoutConfirm: mode == "unconfirmed"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			work := make(chan *delivery, 256)
			var wg, confirming sync.WaitGroup
			done := benchDone{b: b, wg: &confirming}
			for range 16 {
				wg.Go(func() {
					for d := range work {
						if mode == "async" {
							confirming.Add(1)
							d.AckAsync(ctx, done)
							continue
						}
						if err := d.Ack(ctx); err != nil {
							b.Error(err)
						}
					}
				})
			}
			for got := 0; got < b.N; {
				ds, err := src.Receive(ctx, 100)
				if err != nil {
					b.Fatal(err)
				}
				for _, d := range ds {
					work <- d.(*delivery)
				}
				got += len(ds)
			}
			close(work)
			wg.Wait()
			confirming.Wait()
			if mode == "unconfirmed" {
				_ = nc.Flush()
			}
			b.StopTimer()
		})
	}
}

// benchDone counts AckAsync outcomes down.
type benchDone struct {
	b  *testing.B
	wg *sync.WaitGroup
}

func (d benchDone) AckDone(err error) {
	if err != nil {
		d.b.Error(err)
	}
	d.wg.Done()
}
