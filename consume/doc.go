// Package consume is the consumer runtime: it takes messages in from a broker
// and runs a Handler on each, with retries that do not block the stream, dead
// letters, per-key order, bounded concurrency and a graceful drain. It is the
// receiving half of what outbox starts: outbox gets a message out exactly
// once; consume, with an idempotent inbox, gets its effect in exactly once.
//
// The package is portable: it imports no broker. A Source (the driver
// interface in source.go) brings messages from one: natsconsume (JetStream
// durable pull consumers), kafkaconsume (consumer groups with franz-go) and
// rabbitconsume (manual acks with prefetch) in their adapter modules, and
// MemorySource here for tests and examples. Every Source passes the
// conformance suite in consumetest.
//
// # Use
//
//	c, err := consume.New(src, consume.Chain(handler,
//		consume.Recover(),             // a panic is a failed attempt
//		consume.WithPolicy(breaker),   // any bulwark.Policy
//	), consume.Config{DeadLetters: sink})
//	...
//	g := bulwark.Start(ctx, c)          // Run until ctx ends or Close
//	defer g.Stop(context.Background())
//
// # Guarantees
//
//   - At least once: a message is acknowledged only after its handler
//     returned nil, or after its dead letter was stored. Where the broker
//     confirms acknowledgements (a Delivery that is an AsyncAcker, as
//     natsconsume's), the worker sends the acknowledgement and moves on;
//     the message counts as settled (its MaxPending slot free, the next
//     message of its key allowed to run) only once the broker confirms it,
//     and is reported Dropped if that fails. Combined with an
//     idempotent inbox (InboxHandler over pgidempotency or
//     sqliteidempotency, the handler's writes in the inbox's transaction)
//     each message's effect happens exactly once.
//   - Per-key order: messages with the same non-empty Key are handled one
//     at a time, in the order the Source gave them, even while one of them
//     waits for a retry: the later ones wait behind it, unacknowledged,
//     while other keys flow. Order wins over not blocking the key, on every
//     broker; see "Retries" for how the wait is kept off the stream.
//   - Bounded work: at most Config.Concurrency handlers run at once, and at
//     most Config.MaxPending messages are held (running, waiting for their
//     key, waiting for a retry); when that many are held the Consumer stops
//     receiving (backpressure), and it receives again in batches, once a
//     quarter of MaxPending is free or a worker is idle.
//   - Shutdown never dead-letters: a handler error caused by the Consumer's
//     context ending or by Close is not a failure of the message; it is
//     released for redelivery. Close(ctx) stops receiving, starts no new
//     handler, lets the running ones finish within ctx (cancelling their
//     context when ctx ends first), waits for the broker to confirm every
//     acknowledgement sent, releases every message still held, in the
//     order received, and closes the Source. No message is left
//     half-settled.
//
// # Retries
//
// A failed message is first retried in place, Config.InPlaceAttempts times
// with Config.InPlaceBackoff between them (capped by InPlaceMaxDelay), for
// blips: on the same worker, within the same delivery. After that it is
// delivered again later, with Config.Redelivery choosing the delay from
// the failed delivery's Attempt (capped by RedeliveryMaxDelay):
//
//   - a message with a Key stays with the Consumer (unacknowledged; its
//     lease extended with Delivery.Extend where the broker has one) and is
//     run again when its delay is over, on the Consumer's one timer
//     goroutine, not a blocked goroutine or worker; later messages of its
//     key wait; other keys flow. A crash meanwhile leaves the whole key
//     unacknowledged, so the broker redelivers it in order.
//   - a message without a Key is handed back to the broker with
//     Delivery.Redeliver (JetStream NakWithDelay, a RabbitMQ retry queue, a
//     Kafka retry topic), and the Consumer moves on.
//
// Message.Attempt numbers deliveries, not handler runs: it is what the
// Source reports (the broker's delivery count), plus one for each
// redelivery the Consumer makes in process for a keyed message; in-place
// retries keep it. A message is dead-lettered when its handler returns an
// error wrapping Permanent (or one Config.RetryIf refuses), at once, or when
// delivery number Config.MaxAttempts still fails after its in-place retries:
// with MaxAttempts 10 and InPlaceAttempts 3, after at most 40 runs. It is
// handed to Config.DeadLetters (any retry.DeadLetterSink[Message], such as
// a kafkadlq or rabbitdlq Sink) and then acknowledged. The letter's Err
// wraps retry.ErrNotRetryable or retry.ErrMaxAttempts and the last handler
// error; its Attempts are the handler runs this Consumer made on the
// message, numbered from 1: for a keyed message, every run since it was
// received, across its in-process redeliveries; for an unkeyed one, the
// runs of its last delivery; the last 100 runs when there were more. A sink that fails keeps the message: it is
// redelivered and dead-lettered again later. Without a sink a message is
// never dropped: it keeps being redelivered, RedeliveryMaxDelay apart.
//
// Every Config.ExtendEvery (10s by default) the Consumer calls Extend on
// every message it holds, running or waiting. When a Delivery's Extend,
// Ack, Redeliver or Release fails (with ErrGone when the broker took the
// message back), the Consumer lets the message go without settling it
// (event Dropped): the broker delivers it again.
//
// # Zero Config
//
// Config{} is DefaultConfig(): Concurrency 16, MaxPending 256,
// InPlaceAttempts 3 with exponential waits from 10ms capped at 100ms,
// MaxAttempts 10, Redelivery exponential from 1s capped at 5m (both with
// full jitter), every error retryable, no dead-letter sink, ExtendEvery
// 10s.
//
// # Events
//
// With Config.Observer set the Consumer reports Failed (a handler error,
// with the in-place wait that follows, if any), Redelivered (in process or
// through the Source), DeadLettered, Released (given back unsettled at a
// shutdown) and Dropped (a delivery that could not be settled).
package consume
