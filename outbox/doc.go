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
//     outcome. Failed publishes are retried with exponential
//     backoff; after Config.MaxAttempts a message becomes a dead letter,
//     which can be listed, replayed or discarded through the Store.
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
//	store := outbox.NewMemoryStore()
//	relay, err := outbox.NewRelay(store, publisher, outbox.DefaultConfig())
//	if err != nil { ... }
//	go relay.Run(ctx)
//	defer relay.Close(context.Background())
//	err = store.Enqueue(ctx, outbox.NewMessage("orders.created", orderID, payload))
package outbox
