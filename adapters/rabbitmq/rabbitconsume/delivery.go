package rabbitconsume

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/consume"
	amqp "github.com/rabbitmq/amqp091-go"
)

// delivery is one message received on ch.
type delivery struct {
	s  *Source
	ch *amqp.Channel
	d  amqp.Delivery
	m  consume.Message
}

var _ consume.Delivery = (*delivery)(nil)

func (s *Source) wrap(ch *amqp.Channel, d amqp.Delivery) *delivery {
	return &delivery{s: s, ch: ch, d: d, m: decode(d, s.cfg.Queue)}
}

func (d *delivery) Message() *consume.Message { return &d.m }

// gone is the error of a settlement that failed because the channel the
// message came on closed: the broker delivers the message again.
func (d *delivery) gone(what string, err error) error {
	if err == nil {
		return fmt.Errorf("rabbitconsume: %s message %s: %w (its channel closed: the broker delivers it again)", what, d.m.ID, consume.ErrGone)
	}
	return fmt.Errorf("rabbitconsume: %s message %s: %w (its channel closed: the broker delivers it again): %w", what, d.m.ID, consume.ErrGone, err)
}

// settle runs op (an ack or a nack on d's channel). Such a frame fails only
// when the channel is closed or the connection's socket failed, so every
// failure is consume.ErrGone: the broker delivers the message again.
func (d *delivery) settle(what string, op func() error) error {
	if d.ch.IsClosed() {
		return d.gone(what, nil)
	}
	if err := op(); err != nil {
		return d.gone(what, err)
	}
	return nil
}

// Ack acknowledges the message (basic.ack).
func (d *delivery) Ack(context.Context) error {
	return d.settle("acknowledging", func() error { return d.d.Ack(false) })
}

// Release requeues the message (basic.nack with requeue).
func (d *delivery) Release(context.Context) error {
	return d.settle("releasing", func() error { return d.d.Nack(false, true) })
}

// Extend does nothing: RabbitMQ has no lease on a delivery.
func (d *delivery) Extend(context.Context) error { return nil }

// Redeliver publishes a copy of the message, its attempt one higher, to
// the retry queue of delay's tier and waits for the broker's confirmation,
// then acknowledges the original.
func (d *delivery) Redeliver(ctx context.Context, delay time.Duration) error {
	if d.ch.IsClosed() {
		// The broker delivers the original again: a copy would be a
		// duplicate.
		return d.gone("redelivering", nil)
	}
	tier := d.s.tier(delay)
	queue := RetryQueueName(d.s.cfg.Queue, tier)
	err := d.s.ensureTier(tier, false)
	if err == nil {
		msg := d.retryCopy()
		err = d.s.pub.Publish(ctx, "", queue, msg)
		if errors.Is(err, rabbitmq.ErrUnroutable) {
			// The retry queue was deleted since it was declared.
			if err = d.s.ensureTier(tier, true); err == nil {
				err = d.s.pub.Publish(ctx, "", queue, msg)
			}
		}
		if err != nil {
			err = errRedeliver(d.m.ID, queue, err)
		}
	}
	if err != nil {
		// No copy is stored: give the original back rather than leave it
		// unacknowledged on the channel, where nobody would settle it.
		if nerr := d.settle("releasing the unredelivered", func() error { return d.d.Nack(false, true) }); nerr != nil {
			return fmt.Errorf("%w (%w)", nerr, err)
		}
		return fmt.Errorf("%w; the message went back to the queue", err)
	}
	return d.settle("acknowledging the redelivered", func() error { return d.d.Ack(false) })
}

// retryCopy returns the message to publish to a retry queue: the original's
// properties and body, its message-id the message's ID (so that a message
// without one keeps the same ID), its headers without the broker's
// dead-lettering ones, AttemptHeader one higher and the topic kept in
// rabbitoutbox.TopicHeader (the copy comes back with the queue's name as
// its routing key). It is persistent, and without the original's
// expiration.
func (d *delivery) retryCopy() amqp.Publishing {
	h := make(amqp.Table, len(d.d.Headers)+2)
	for k, v := range d.d.Headers {
		if !deathHeader(k) {
			h[k] = v
		}
	}
	h[AttemptHeader] = int64(d.m.Attempt) + 1
	h[rabbitoutbox.TopicHeader] = d.m.Topic
	return amqp.Publishing{
		Headers:         h,
		ContentType:     d.d.ContentType,
		ContentEncoding: d.d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		Priority:        d.d.Priority,
		CorrelationId:   d.d.CorrelationId,
		ReplyTo:         d.d.ReplyTo,
		MessageId:       d.m.ID,
		Timestamp:       d.d.Timestamp,
		Type:            d.d.Type,
		AppId:           d.d.AppId,
		Body:            d.d.Body,
	}
}
