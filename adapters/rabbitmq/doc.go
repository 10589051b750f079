// Package rabbitmq holds bulwark's RabbitMQ adapters, one subpackage per
// pattern: rabbitoutbox (an outbox.Publisher), rabbitdlq (a
// retry.DeadLetterSink) and rabbitconsume (a consume.Source). It is its own
// module, so that only programs that use RabbitMQ depend on amqp091-go.
//
// They publish the same way (rabbitconsume its retries): on a channel in confirm mode, with the
// mandatory flag, persistent delivery, and a connection of their own that
// they open on first use and open again on the next call after it (or the
// channel) dies. While the broker blocks publishers (a resource alarm), a
// publish waits for it to unblock or for its context. A publish succeeds only once the broker has confirmed it;
// an unroutable message (no queue bound for its routing key) is returned by
// the broker and fails with an error matching ErrUnroutable, and a nack
// fails with ErrNacked. A message that cannot be sent as it is fails with
// ErrInvalid before anything is written, and ErrConnectionLost means only
// that the connection or channel closed before the broker confirmed. The
// package holds those errors.
package rabbitmq

import "github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/confirm"

// DefaultURL is the broker that a Config with neither URL nor Dial connects
// to, in every package of this module: RabbitMQ's default user on a broker
// on this machine.
const DefaultURL = confirm.DefaultURL

// Errors of a confirmed publish, matched with errors.Is.
var (
	// ErrUnroutable: the broker returned the message because no queue was
	// bound for its routing key (the publish is mandatory). The error is an
	// *UnroutableError.
	ErrUnroutable = confirm.ErrUnroutable
	// ErrNacked: the broker refused the message (a nack: an internal error,
	// or a queue's overflow policy reject-publish).
	ErrNacked = confirm.ErrNacked
	// ErrConnectionLost: the channel or connection closed before the broker
	// confirmed the message. The broker may have stored it; publishing
	// again may make a duplicate.
	ErrConnectionLost = confirm.ErrConnectionLost
	// ErrClosed: the publisher was closed. It matches bulwark.ErrClosed.
	ErrClosed = confirm.ErrClosed
	// ErrInvalid: the message cannot be published as it is, and nothing
	// was sent: a name or routing key over AMQP's 255 bytes, properties
	// and headers over the connection's frame_max (128 KiB by default),
	// a body over the publisher's largest message, a header value of a
	// type AMQP cannot hold. Sent, such a message would make amqp091 or
	// the broker close the connection or channel, failing every publish
	// in flight on it; refused, it fails alone and the connection stays
	// up. Publishing it again cannot succeed.
	ErrInvalid = confirm.ErrInvalid
)

// UnroutableError is the error of a message the broker returned: where it
// was sent and the broker's reply.
type UnroutableError = confirm.UnroutableError
