// Package rabbitconsume is the RabbitMQ consume.Source: a consume.Consumer
// takes messages from one queue with manual acknowledgements and a
// prefetch, redelivers failed messages later through retry queues, and
// keeps dead letters in a queue with rabbitdlq, from which DeadLetters
// lists and replays them.
//
// # Connections and topology
//
// The Source dials its own connections from Config.URL (or Config.Dial)
// and closes them on Close: one to consume, opened by the first Receive,
// and one to publish retries with publisher confirms, opened by the first
// Redeliver. On every consuming connection, and again after a loss, it
// declares the topology before it consumes: the queue (durable, with
// Config.QueueArgs; or only checked, with Config.Passive), its
// Config.Bindings, Config.DeadLetterQueue and every retry queue it has
// used. When the connection or the channel dies, or the broker cancels the
// consumer (the queue was deleted), Receive connects again (waiting
// Config.ReconnectBackoff between failed attempts, reporting
// ConnectionLost and ConnectFailed) and goes on; it fails only on errors
// another attempt cannot mend (access refused, a queue declared with other
// arguments, a missing passive queue). The messages the lost channel had
// delivered and not settled go back to the queue; once its channel is
// closed, a delivery's Ack, Redeliver and Release return an error wrapping
// consume.ErrGone, and the Consumer drops it. An Ack written as the
// connection dies may die with it, and the broker delivers that message
// again: delivery is at least once, and an inbox (consume.InboxHandler)
// drops the second copy by its ID.
//
// # Messages
//
// A delivery becomes a consume.Message, whoever published it:
//
//   - ID is the AMQP message-id (rabbitoutbox sets the outbox message ID);
//     a message without one gets BodyIDPrefix and the SHA-256 of its body,
//     so that the broker's redeliveries of it keep one ID, but two
//     messages with the same body share it too: publish with a message-id
//     when an inbox deduplicates.
//   - Key, Topic and PublishedAt come from rabbitoutbox's headers
//     (rabbitoutbox.KeyHeader, TopicHeader, CreatedAtHeader). Without them
//     the Key is "", the Topic the routing key and PublishedAt the AMQP
//     timestamp (zero when unset).
//   - Attempt is AttemptHeader, which Redeliver sets on its copy, or 1;
//     for a message that comes back through a dead-letter loop of your
//     own (rejected from this queue and dead-lettered back to it), 1 plus
//     the count of its x-death entry for this queue with reason
//     "rejected", if that is more. Release (a requeue) does not count.
//   - Headers are the AMQP headers but bulwark's (names starting with
//     "bulwark-", any case) and the broker's dead-lettering ones (x-death,
//     x-first-death-…, x-last-death-…), nil when none are left; values of
//     AMQP's scalar types become text (strings and byte arrays as they
//     are, numbers in decimal, booleans as true or false, timestamps in
//     RFC 3339); tables, arrays and voids are left out.
//   - Metadata is the amqp.Delivery. Read it; settle the message only
//     through the Consumer.
//
// # Settling
//
// Ack is basic.ack. Release is basic.nack with requeue: the broker puts
// the message back and delivers it again at once. Redeliver(delay)
// publishes a copy of the message to a retry queue (the same body; the
// same properties but the expiration and user-id; the same headers but the
// broker's dead-lettering ones; the message's ID as message-id,
// AttemptHeader one higher, its Topic in rabbitoutbox.TopicHeader,
// persistent) and acknowledges the original only once the broker has
// confirmed the copy: a crash or a lost connection in between leaves both,
// and the message is handled twice (an inbox drops the second), never
// lost. When the channel the message came on is already closed, Redeliver
// publishes nothing and returns consume.ErrGone. When the copy cannot be
// stored (its retry queue cannot be declared, the broker refuses it, the
// publishing connection dies first), Redeliver gives the original back to
// the queue, as Release does, and returns the error: the broker delivers
// it again at once, rather than it staying unacknowledged on the channel.
//
// A retry queue holds messages for a fixed time: it is declared, on first
// use, with x-message-ttl set to its tier and the default exchange with
// the consumed queue's name as its dead-letter exchange and routing key,
// so an expired copy goes back to the consumed queue. RabbitMQ expires
// messages only at a queue's head, so one queue with a TTL per message
// would hold a 50ms retry behind a 5m one; with a queue per tier, every
// message in a queue has the same TTL and none waits behind a longer one.
// The tiers are Config.RetryTiers (DefaultRetryTiers: 10ms … 24h); a
// delay is rounded up to the first tier at least as long (a 150ms delay
// waits 200ms; 0 waits the first tier), and a delay longer than the last
// tier waits the last tier. The queues are named by RetryQueueName
// ("orders.retry.200ms") and are not deleted by the Source. The default
// tiers reach 24h, consume's largest Config.RedeliveryMaxDelay.
//
// RabbitMQ moves an expired copy from a classic retry queue into the
// consumed queue at most once: a broker failure at that moment loses it.
// Config.RetryQueueArgs can make the retry queues quorum queues that
// dead-letter at least once (RabbitMQ 3.10 and later).
//
// # Order and not blocking
//
// RabbitMQ gives a queue's messages to one consumer in the order they were
// enqueued. The consume.Consumer keeps each key's order, and where order
// and not blocking conflict, order wins for keyed messages and not
// blocking for the others:
//
//   - A message with a Key that fails is held by the Consumer,
//     unacknowledged, until its retry; later messages of its key wait
//     behind it in the process while other keys flow. This holds the
//     prefetch: Config.Prefetch must be at least consume.Config.MaxPending
//     (both default to 256), or the broker would stop sending before the
//     Consumer is full; Receive refuses a Consumer that asks for more
//     than Prefetch, so its Run fails at once.
//   - A message without a Key goes to a retry queue (Redeliver) and is
//     acknowledged; it comes back behind the messages enqueued meanwhile.
//
// The order holds for one consumer of a queue: to run several processes,
// declare the queue with x-single-active-consumer in Config.QueueArgs, or
// route keys to several queues (a consistent-hash exchange) each with a
// single active consumer. Released messages and those of a lost channel
// go back to the queue, in a classic queue at their place, ahead of later
// ones, so each key's messages are still first handled in order.
//
// # Dead letters
//
// consume.Config.DeadLetters takes any retry.DeadLetterSink of
// consume.Message; for RabbitMQ, a rabbitdlq.Sink made with SinkConfig,
// which encodes each message with EncodeLetter (JSON, every byte kept) into
// a queue (Config.DeadLetterQueue declares it). DeadLetters lists the
// letters (List) and replays them into the consumed queue (Replay) with
// their ID, key and topic, to be handled again from attempt 1.
//
// # Zero Config
//
// Config needs URL (or Dial) and Queue; every other zero field is its
// default (DefaultConfig): Prefetch 256, DefaultRetryTiers, reconnect
// waits from 100ms doubling to 5s (equal jitter), the system clock.
//
// # Events
//
// With Config.Observer set the Source reports ConnectionLost (the
// consuming channel ended) and ConnectFailed (an attempt to connect
// failed, and the wait before the next).
package rabbitconsume
