// Package kafkaconsume is a consume.Source over an Apache Kafka consumer
// group, with franz-go: the consume.Consumer runtime handles the records of
// a set of topics with retries, dead letters, per-key order and bounded
// concurrency.
//
//	src, err := kafkaconsume.New("payments", []string{"orders"}, kafkaconsume.Config{
//		Opts: []kgo.Opt{kgo.SeedBrokers("kafka-1:9092")},
//	})
//	...
//	dlq, err := kafkaconsume.NewDeadLetters(producer, kafkaconsume.DeadLetterConfig{Topic: "orders.dlq"})
//	...
//	c, err := consume.New(src, handler, consume.Config{DeadLetters: dlq})
//	...
//	g := bulwark.Start(ctx, c)
//
// # The client
//
// The Source makes its own *kgo.Client from Config.Opts (seed brokers, TLS,
// SASL, timeouts) rather than taking one, because what it needs of the
// group can only be set when a client is made: the group and topics,
// cooperative-sticky balancing (kgo.CooperativeStickyBalancer, so that a
// rebalance moves only the partitions that change owner and the others
// keep flowing), manual commits (kgo.DisableAutoCommit), rebalances
// blocked while a poll is being recorded (kgo.BlockRebalanceOnPoll) and
// its revoke and lost callbacks. The client is made, and the group joined,
// at the first Receive; Close leaves the group and closes it.
//
// # Guarantees
//
//   - Commit only what is done: a record's offset is committed once it and
//     every record before it in its partition are settled as done (Ack, or
//     Redeliver once its retry copy is stored). Acks may come in any
//     order; the Source commits the done prefix of each partition every
//     Config.CommitInterval, when partitions are revoked and on Close. A
//     crash loses no record: the group redelivers everything after the
//     committed prefix, some of it done already (at least once; an
//     idempotent inbox makes the effect exactly once).
//   - Revocation: when a rebalance takes partitions away, the Source waits
//     up to Config.RevokeWait for the Consumer to settle the deliveries of
//     those partitions, commits what is done, and only then lets the
//     partitions go. Deliveries still unsettled are abandoned: their Ack,
//     Redeliver, Release and Extend return an error wrapping
//     consume.ErrGone, nothing more of them is committed, and the new
//     owner delivers them again. A keyed message the Consumer holds for a
//     redelivery delay (see below) is not settled within the wait, so a
//     rebalance that moves its partition takes the whole RevokeWait and
//     hands the key over from that message on. Partitions lost without a
//     rebalance (an expired membership) are abandoned at once, without a
//     commit.
//   - Release: a released record is not committed, and since a group
//     client never fetches a record twice by itself, the Source hands it
//     out again at the next Receive, before anything fetched later, with
//     the same Attempt.
//
// # Order and retries
//
// Which wins, per-key order or not blocking the stream, depends on the key:
//
//   - Keyed records (a non-empty record key, as kafkaoutbox writes): order
//     wins. Every record of a key is on one partition, and the Consumer
//     holds a failing keyed message in process, unacknowledged, until its
//     redelivery delay is over, while later messages of its key wait
//     behind it and other keys flow. The partition's commit prefix stops
//     at the held message, so a crash redelivers the key in order.
//   - Unkeyed records: not blocking wins. The Consumer hands a failing one
//     to Redeliver, which produces a copy to the topic's retry topic
//     (Config.RetryTopic, "<topic>.retry" by default) with the same key,
//     value, headers and ID, Attempt one higher (Bulwark-Attempt), the
//     original topic (Bulwark-Topic) and a not-before time
//     (Bulwark-Not-Before), then marks the original done. The Source
//     consumes the retry topics in the same group and holds each retry
//     record, in memory and uncommitted, until its not-before time, with
//     no goroutine per record and without holding back the main
//     partitions or other retry records; at most Config.MaxHeld are held,
//     and then the retry topics are not fetched until one is due. A crash
//     meanwhile fetches the held records again. The retry topics must
//     exist.
//
// # Messages
//
// Decode says how a record becomes a consume.Message: records kafkaoutbox
// wrote keep their outbox ID (Bulwark-Id) and creation time; any other
// record gets the ID "<topic>/<partition>/<offset>" of where it was first
// consumed (kept on its retry and replayed copies). Message.Metadata is
// the *kgo.Record.
//
// # Dead letters
//
// NewDeadLetters makes the consume.Config.DeadLetters sink: a kafkadlq sink
// that keeps each message as the record it came in as, with the error and
// the attempt history. DecodeDeadLetter reads a letter back, and Replay
// sends its message again to the topic it was first consumed from, with
// the same key, ID and headers, as attempt 1.
//
// # Zero Config
//
// Config{} is DefaultConfig(): the client's defaults (seed broker
// 127.0.0.1:9092, a new group starting at each partition's first offset,
// kgo.ConsumeStartOffset),
// retry topics "<topic>.retry", commits every second, revocations that wait
// up to 10s, at most 1024 held retry records, the system clock.
//
// # Events
//
// With Config.Observer set the Source reports Revoked (with how many
// deliveries it abandoned and the commit's error), Lost, CommitFailed and
// FetchFailed.
package kafkaconsume
