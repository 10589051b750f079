package consume

import (
	"context"
	"errors"
	"time"
)

// ErrGone is returned (wrapped) by a Delivery's Ack, Redeliver, Release or
// Extend when the message can no longer be settled by this consumer: its
// Kafka partition was revoked, its AMQP channel closed, its JetStream
// consumer deleted. The broker redelivers such a message (to this consumer or
// another one); the Consumer drops it without treating it as handled or
// failed.
var ErrGone = errors.New("consume: delivery gone")

// Source is the driver interface a broker implements: natsconsume,
// kafkaconsume and rabbitconsume in their adapter modules, MemorySource here.
// Users build a Source and hand it to New; they do not call its methods.
//
// A Source is used by one Consumer at a time. Receive is called from one
// goroutine; a Delivery's methods may be called from any goroutine, each
// Delivery's from one at a time.
type Source interface {
	// Receive blocks until at least one message is available and returns
	// at most max of them (max ≥ 1), in the order the broker gave them. It
	// returns ctx's error (wrapped) when ctx ends first, and an error for a
	// failure the Source could not ride out itself (it reconnects on its
	// own where its broker allows).
	Receive(ctx context.Context, max int) ([]Delivery, error)
	// Close releases what the Source holds (subscriptions, channels, the
	// group membership) once the Consumer has settled every delivery it
	// could. Messages still unsettled are left for the broker to redeliver.
	Close(ctx context.Context) error
}

// Delivery is one received message and the means to settle it. Exactly one of
// Ack, Redeliver or Release ends a delivery; Extend may be called before.
//
// The Consumer treats any error from Ack, Redeliver or Release as the end of
// the delivery: it reports the message Dropped and forgets it. So a Source
// must leave a message whose settlement failed with the broker, to be
// delivered again: a Redeliver whose copy could not be stored gives the
// original back (rabbitconsume and kafkaconsume release it; JetStream
// redelivers an unacknowledged message after its AckWait).
type Delivery interface {
	// Message returns the decoded message. It is the same pointer on every
	// call; handlers must not keep it after they return.
	Message() *Message
	// Ack settles the message as done: the broker will not deliver it
	// again (Kafka: its offset is committed once every earlier offset of
	// its partition is done too).
	Ack(ctx context.Context) error
	// Redeliver hands the message back to the broker to be delivered again
	// no sooner than delay from now, without holding the stream meanwhile:
	// JetStream's NakWithDelay, a RabbitMQ retry queue with a per-message
	// TTL dead-lettering into the source queue, a Kafka retry topic with a
	// not-before header. The redelivered message has the same ID and an
	// Attempt one higher.
	Redeliver(ctx context.Context, delay time.Duration) error
	// Release gives the message up unsettled, for prompt redelivery: a
	// shutdown, or a handler cancelled before it finished. Nothing about it
	// is recorded as failed.
	Release(ctx context.Context) error
	// Extend tells the broker the message is still being worked on
	// (JetStream's InProgress), so that a long handler or a wait for an
	// earlier message of the same key does not cause a redelivery. A
	// broker without such a lease does nothing and returns nil.
	Extend(ctx context.Context) error
}

// AsyncAcker is an optional interface of a Delivery whose Ack waits for
// the broker's confirmation (natsconsume's by default). While Run runs,
// the Consumer acknowledges a handled message with AckAsync instead of Ack,
// so that the worker moves on to the next message as soon as the
// acknowledgement is sent, instead of waiting a round trip to the broker.
// The guarantees do not change: the message keeps its place until the
// outcome is known (it counts against MaxPending, and the next message of
// its key waits), a failed confirmation reports it Dropped as a failed Ack
// would, and Run (so Close) returns only once every outcome is known.
type AsyncAcker interface {
	// AckAsync sends the acknowledgement that Ack would send and returns
	// without waiting for the broker's confirmation. It then calls
	// done.AckDone exactly once, from any goroutine, possibly before
	// AckAsync returns, with what Ack would have returned: nil once the
	// broker has confirmed it, an error (wrapping ErrGone when the
	// delivery is gone) otherwise. The Source bounds the wait itself, as
	// it bounds Ack's, so that done is always called.
	AckAsync(ctx context.Context, done AckDone)
}

// AckDone receives the outcome of an AsyncAcker's AckAsync.
type AckDone interface {
	// AckDone is called once, with nil when the broker confirmed the
	// acknowledgement and with the error otherwise. It returns quickly and
	// calls no AckAsync: a Source may call it on the goroutine that
	// receives the broker's answers.
	AckDone(err error)
}
