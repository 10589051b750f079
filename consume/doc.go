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
//     returned nil, or after its dead letter was stored. Combined with an
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
//     receiving until one is settled (backpressure).
//   - Shutdown never dead-letters: a handler error caused by the Consumer's
//     context ending or by Close is not a failure of the message; it is
//     released for redelivery. Close(ctx) stops receiving, lets running
//     handlers finish within ctx, and releases every message still held.
//     No message is left half-settled.
//
// # Retries
//
// A failed message is first retried in place, Config.InPlaceAttempts times
// with Config.InPlaceBackoff between them, for blips. After that it is
// redelivered later, with Config.Redelivery choosing the delay by attempt:
//
//   - a message with a Key stays with the Consumer (unacknowledged; its
//     lease extended with Delivery.Extend where the broker has one) and is
//     run again when its delay is over, on a timer, not a blocked
//     goroutine; later messages of its key wait; other keys flow. A crash
//     meanwhile leaves the whole key unacknowledged, so the broker
//     redelivers it in order.
//   - a message without a Key is handed back to the broker with
//     Delivery.Redeliver (JetStream NakWithDelay, a RabbitMQ retry queue, a
//     Kafka retry topic), and the Consumer moves on.
//
// A message is dead-lettered when its handler returns an error wrapping
// Permanent (or one Config.RetryIf refuses), or when its delivery would be
// attempt number Config.MaxAttempts + 1: it is handed to Config.DeadLetters
// (any retry.DeadLetterSink[Message], such as kafkadlq, rabbitdlq or a
// natsconsume dead-letter stream) with every attempt's error, then
// acknowledged. Without a sink a message is never dropped: it keeps being
// redelivered at the longest delay.
//
// # Zero Config
//
// Config{} is DefaultConfig(): Concurrency 16, MaxPending 256,
// InPlaceAttempts 3 with 10ms..100ms exponential backoff, MaxAttempts 10,
// Redelivery exponential from 1s to 5m with full jitter, no dead-letter sink.
//
// # Events
//
// With Config.Observer set the Consumer reports Failed (a handler error,
// with the attempt and what happens next), Redelivered, DeadLettered,
// Released and Dropped (a delivery the Source says is gone).
package consume
