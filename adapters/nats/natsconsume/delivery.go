package natsconsume

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The bodies of JetStream's acknowledgements.
var (
	ackBody      = []byte("+ACK")
	nakBody      = []byte("-NAK")
	progressBody = []byte("+WPI")
)

// delivery is one received message and its acknowledgement subject.
type delivery struct {
	s       *Source
	reply   string
	msg     consume.Message
	settled atomic.Bool
}

var (
	_ consume.Delivery   = (*delivery)(nil)
	_ consume.AsyncAcker = (*delivery)(nil)
)

// delivery decodes msg, a message a pull request brought.
func (s *Source) delivery(msg *nats.Msg) *delivery {
	return &delivery{s: s, reply: msg.Reply, msg: decode(ackMetadata(msg.Reply), msg.Subject, msg.Header, msg.Data, s.cfg.KeyHeader)}
}

// ackMetadata reads a message's JetStream metadata from its reply subject,
// $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>,
// or with <domain>.<account hash> before <stream> and a token after
// <pending>. What it cannot read is zero.
func ackMetadata(reply string) *jetstream.MsgMetadata {
	tokens := strings.Split(strings.TrimPrefix(reply, "$JS.ACK."), ".")
	meta := &jetstream.MsgMetadata{}
	switch {
	case len(tokens) == 7:
	case len(tokens) >= 9:
		meta.Domain = tokens[0]
		if meta.Domain == "_" {
			meta.Domain = ""
		}
		tokens = tokens[2:]
	default:
		return meta
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	meta.Stream, meta.Consumer = tokens[0], tokens[1]
	meta.NumDelivered = num(tokens[2])
	meta.Sequence.Stream, meta.Sequence.Consumer = num(tokens[3]), num(tokens[4])
	meta.Timestamp = time.Unix(0, int64(num(tokens[5])))
	meta.NumPending = num(tokens[6])
	return meta
}

func (d *delivery) Message() *consume.Message { return &d.msg }

// Ack acknowledges the message and waits for the server to confirm it
// (as jetstream.Msg.DoubleAck does): a nil error means the server has
// removed it from the consumer's pending messages, and will not deliver it
// again. With Config.AckWithoutConfirm it only publishes the
// acknowledgement.
func (d *delivery) Ack(ctx context.Context) error {
	if !d.s.cfg.AckWithoutConfirm {
		return d.settle(ctx, "acknowledging", ackBody, true)
	}
	if !d.settled.CompareAndSwap(false, true) {
		return fmt.Errorf("natsconsume: acknowledging %s: already settled", d.msg.ID)
	}
	if err := ctx.Err(); err != nil {
		d.settled.Store(false)
		return fmt.Errorf("natsconsume: acknowledging %s: %w", d.msg.ID, err)
	}
	if err := d.s.nc.Publish(d.reply, ackBody); err != nil {
		d.settled.Store(false)
		return fmt.Errorf("natsconsume: acknowledging %s: %w", d.msg.ID, err)
	}
	return nil
}

// AckAsync sends the acknowledgement Ack sends and returns without waiting
// for the server's confirmation; done gets what Ack would have returned,
// once the server has answered (nil: it will not deliver the message
// again), or once Config.AckTimeout (or ctx's deadline, when earlier) has
// passed without an answer. ctx ending otherwise after the acknowledgement
// was sent does not cut the wait short. The replies of every AckAsync come
// to one subscription of the Source's, so a Consumer's workers move on to
// their next message while the confirmations come back, and Close waits
// for them. After Close, AckAsync waits for the answer itself before it
// calls done. With Config.AckWithoutConfirm it publishes the
// acknowledgement and calls done at once, as Ack does.
func (d *delivery) AckAsync(ctx context.Context, done consume.AckDone) {
	if d.s.cfg.AckWithoutConfirm {
		done.AckDone(d.Ack(ctx))
		return
	}
	if !d.settled.CompareAndSwap(false, true) {
		done.AckDone(fmt.Errorf("natsconsume: acknowledging %s: already settled", d.msg.ID))
		return
	}
	if err := ctx.Err(); err != nil {
		d.settled.Store(false)
		done.AckDone(fmt.Errorf("natsconsume: acknowledging %s: %w", d.msg.ID, err))
		return
	}
	if !d.s.acks.send(ctx, d, done) { // closed
		d.settled.Store(false)
		done.AckDone(d.Ack(ctx))
	}
}

// Redeliver sends a negative acknowledgement with delay (NakWithDelay) and
// waits for the server to confirm it. The server delivers the message
// again once delay has passed, with NumDelivered one higher; meanwhile the
// message counts towards MaxAckPending. A delay <= 0 is Release.
func (d *delivery) Redeliver(ctx context.Context, delay time.Duration) error {
	body := nakBody
	if delay > 0 {
		body = append(append([]byte(nil), nakBody...), ` {"delay": `+strconv.FormatInt(int64(delay), 10)+`}`...)
	}
	return d.settle(ctx, "redelivering", body, true)
}

// Release sends a negative acknowledgement (Nak) and waits for the server
// to confirm it: the server delivers the message again at once. JetStream
// counts that delivery too, in NumDelivered and so in Attempt.
func (d *delivery) Release(ctx context.Context) error {
	return d.settle(ctx, "releasing", nakBody, true)
}

// Extend sends InProgress and waits for the server to confirm it: the
// server restarts the message's AckWait.
func (d *delivery) Extend(ctx context.Context) error {
	if d.settled.Load() {
		return fmt.Errorf("natsconsume: extending %s: already settled", d.msg.ID)
	}
	return d.settle(ctx, "extending", progressBody, false)
}

// settle sends an acknowledgement body to the message's reply subject as a
// request and waits for the server's answer. A request nobody answers
// (no responders) means the consumer or its stream is gone: the error
// wraps consume.ErrGone. A final settle that fails may be tried again.
func (d *delivery) settle(ctx context.Context, what string, body []byte, final bool) error {
	if final && !d.settled.CompareAndSwap(false, true) {
		return fmt.Errorf("natsconsume: %s %s: already settled", what, d.msg.ID)
	}
	rctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, d.s.cfg.AckTimeout)
		defer cancel()
	}
	_, err := d.s.nc.RequestWithContext(rctx, d.reply, body)
	if err == nil {
		return nil
	}
	if final {
		d.settled.Store(false)
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
	case ctx.Err() != nil:
		err = ctx.Err()
	case rctx.Err() != nil:
		return fmt.Errorf("natsconsume: %s %s: no answer from the server within Config.AckTimeout (%v): %w", what, d.msg.ID, d.s.cfg.AckTimeout, nats.ErrTimeout)
	}
	return d.s.settleError(what, d.msg.ID, err)
}

// settleError wraps the error of a settlement of message id: nobody
// answering (no responders) means the consumer or its stream is gone.
func (s *Source) settleError(what, id string, err error) error {
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("natsconsume: %s %s: %w: consumer %s on stream %s no longer exists", what, id, consume.ErrGone, s.cfg.Durable, s.cfg.Stream)
	}
	return fmt.Errorf("natsconsume: %s %s: %w", what, id, err)
}
