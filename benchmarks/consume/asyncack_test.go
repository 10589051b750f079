package consume

import (
	"context"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go/jetstream"
)

// asyncAckSource is a diagnostic, not a product: a consume.Source over a
// JetStream pull consumer that fetches as natsconsume does (what is there
// now, else a wait for one message) but decodes only ID, Key, Payload and
// Attempt and acknowledges without waiting for the server (Ack, not
// AckSync). consume.Consumer over it shows what the runtime costs apart
// from natsconsume's confirmed acknowledgements and full decoding: see
// "consume" in README.md.
type asyncAckSource struct {
	cons jetstream.Consumer
}

var _ consume.Source = (*asyncAckSource)(nil)

func (s *asyncAckSource) Receive(ctx context.Context, max int) ([]consume.Delivery, error) {
	n := min(max, batch)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var ds []consume.Delivery
		collect := func(b jetstream.MessageBatch, err error) {
			if err != nil {
				return
			}
			for msg := range b.Messages() {
				ds = append(ds, newAsyncDelivery(msg))
			}
		}
		collect(s.cons.FetchNoWait(n))
		if len(ds) > 0 {
			return ds, nil
		}
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		collect(s.cons.Fetch(1, jetstream.FetchContext(fctx)))
		cancel()
		if len(ds) > 0 {
			if n > 1 {
				collect(s.cons.FetchNoWait(n - 1))
			}
			return ds, nil
		}
	}
}

func (s *asyncAckSource) Close(context.Context) error { return nil }

type asyncDelivery struct {
	msg jetstream.Msg
	m   consume.Message
}

func newAsyncDelivery(msg jetstream.Msg) *asyncDelivery {
	h := msg.Headers()
	d := &asyncDelivery{msg: msg, m: consume.Message{
		ID: h.Get(jetstream.MsgIDHeader), Key: h.Get(natsoutbox.KeyHeader), Topic: msg.Subject(), Payload: msg.Data(), Attempt: 1,
	}}
	if meta, err := msg.Metadata(); err == nil {
		d.m.Attempt = int(meta.NumDelivered)
	}
	return d
}

func (d *asyncDelivery) Message() *consume.Message     { return &d.m }
func (d *asyncDelivery) Ack(context.Context) error     { return d.msg.Ack() }
func (d *asyncDelivery) Release(context.Context) error { return d.msg.Nak() }
func (d *asyncDelivery) Extend(context.Context) error  { return d.msg.InProgress() }
func (d *asyncDelivery) Redeliver(_ context.Context, delay time.Duration) error {
	return d.msg.NakWithDelay(delay)
}
