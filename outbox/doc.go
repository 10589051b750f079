// Package outbox implements the transactional outbox: a message written in
// the same database transaction as the business change it announces reaches
// the broker at least once, in order per key, even when the relay, the
// database connection or the broker fails at any moment.
//
// Use it when a service must both change its database and tell others about
// it. Writing to the database and then publishing (a dual write) loses the
// message when the process dies in between, and publishing first announces
// changes that may roll back. With an outbox the message is a row written in
// the business transaction; a Relay publishes committed rows afterwards.
//
// The pieces:
//
//   - Message: ID (a UUID the broker can deduplicate on), topic, ordering
//     key, payload, headers, creation time.
//   - Enqueue, offered by each store driver for its own transaction type:
//     pgoutbox (PostgreSQL; pgx.Tx or *sql.Tx), sqliteoutbox (SQLite;
//     *sql.Tx), and MemoryStore here for tests.
//   - Relay: claims batches from a Store, publishes them through a
//     Publisher (natsoutbox for NATS JetStream, kafkaoutbox for Kafka,
//     rabbitoutbox for RabbitMQ, MemoryPublisher here), and records the
//     outcome. A failed publish is retried after a wait chosen by
//     Config.Backoff; after Config.MaxAttempts the message becomes a dead
//     letter, which can be listed, replayed or discarded through the
//     Store.
//
// # Guarantees
//
// Ordering: messages with the same key are published one at a time in the
// order they were enqueued; different keys are published in parallel. A
// message waiting for a retry holds back the later messages of its key, and
// so does a dead letter until it is replayed or discarded (unless
// Config.SkipDeadLetters is set).
//
// Several relays, in one process or many, may share a store: a claim holds
// its messages' keys, so each message is published by one relay at a time,
// and a relay that dies mid-batch loses nothing (its claim ends with its
// database session or lease). A message may be published more than once
// (the relay died after publishing, before recording it), always with the
// same ID: consumers, or the broker's duplicate window, drop the repeat.
//
// Bytes: the payload and header values are bytes, kept and published
// exactly (NUL bytes, invalid UTF-8 and empty values included); the topic,
// key and header names are text (valid UTF-8 without NUL), and Enqueue
// refuses anything else with an error matching ErrInvalidMessage before
// writing. A message its Publisher cannot carry (a wildcard NATS subject,
// an AMQP header over the frame size, a record over Kafka's limit) fails
// alone with ErrInvalidMessage, disturbing no other publish, and the relay
// dead-letters it at once instead of retrying what cannot succeed.
// Publishers that can tell beforehand implement Checker: call Check before
// Enqueue to refuse such a message in the business transaction.
//
// # Configuration, lifecycle, events
//
// The zero Config is the default configuration (DefaultConfig spells it
// out): batches of 100, 8 keys at once, a 1 s poll, a 10 s publish
// timeout, a 1 min lease, dead letters after 10 failed attempts with
// exponential waits from 1 s to 1 min. NewRelay refuses invalid settings
// with an error naming the field and its range.
//
// A Relay is a bulwark.Service: NewRelay starts nothing, Run relays until
// its context ends or Close is called (and, with Config.Retention, deletes
// published messages kept longer than that), and Close stops it, letting
// the publishes under way finish and recording the batch's outcome within
// Close's context. Start it with bulwark.Start beside a service's other
// background work.
//
// The relay reports Published, PublishFailed and DeadLettered events to
// Config.Observer, on the goroutine that processed the batch, with its
// context, after the outcome is recorded.
//
//	store := outbox.NewMemoryStore()
//	relay, err := outbox.NewRelay(store, publisher, outbox.Config{})
//	if err != nil { ... }
//	services := bulwark.Start(ctx, relay)
//	defer services.Stop(context.Background())
//	err = store.Enqueue(ctx, outbox.NewMessage("orders.created", orderID, payload))
package outbox
