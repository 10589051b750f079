// Package natsconsume brings messages from NATS JetStream into a
// consume.Consumer: Source is a consume.Source over a durable pull consumer,
// and DeadLetters keeps the messages the Consumer gives up on in a stream of
// their own, to list, replay or discard.
//
//	src, err := natsconsume.New(js, natsconsume.Config{Stream: "ORDERS", Durable: "billing"})
//	dlq, err := natsconsume.NewDeadLetters(js, natsconsume.DeadLetterConfig{Stream: "DEAD", Subject: "dead.billing"})
//	c, err := consume.New(src, handler, consume.Config{DeadLetters: dlq})
//	g := bulwark.Start(ctx, c)
//	defer g.Stop(context.Background())
//
// # The consumer
//
// On its first Receive the Source creates the durable consumer Config.Durable
// on Config.Stream, or updates it to the Config: explicit acks, Config.AckWait,
// Config.MaxAckPending, Config.FilterSubjects, every message delivered from
// the start of the stream, and no MaxDeliver (the Consumer decides when to
// give up, by Message.Attempt). The durable keeps what was acknowledged, so a
// new Source with the same Durable (a restarted process) continues where the
// last one stopped, and gets again what it left unacknowledged.
//
// Receive pulls: it asks for the messages that are there, and when there are
// none, waits for one with a pull request that expires on the server after
// Config.FetchWait (1s), then asks again. It never leaves a pull request
// open behind it: a Receive whose ctx ends returns when its request ends on
// the server (within FetchWait), with what the request brought, so no
// message is sent into a subscription nobody reads to wait out its
// AckWait, and a closing Consumer, which releases what it holds after
// Receive has returned, has the next Source get its messages in order.
// (nats-server 2.9 does worse with a request whose subscriber is gone: it
// drops a redelivery offered to it, until its AckWait runs out, and
// delivers the next stream message twice; later servers do not. A process
// killed while its request waits leaves such a request behind for up to
// FetchWait.)
//
// # Guarantees
//
//   - Ack waits for the server's confirmation (as jetstream.Msg.DoubleAck):
//     its nil means the server will not deliver the message again. A
//     Consumer acknowledges a handled message with AckAsync
//     (consume.AsyncAcker) instead: the same request, whose answer comes
//     to one reply subscription of the Source's while the worker moves on
//     to its next message; the message counts as settled (its MaxPending
//     slot freed, the next message of its key run) only once the server
//     has confirmed, a failed or missing confirmation (within AckTimeout)
//     reports it Dropped as a failed Ack does, and the Consumer's Close,
//     like the Source's, returns only once every confirmation is in. At
//     most 1024 acknowledgements await their answers at once.
//     Config.AckWithoutConfirm only publishes the acknowledgement: an
//     acknowledgement lost with the connection or a killed process then
//     makes the server deliver the message again after AckWait. Either way
//     nothing is lost: at worst a message is handled twice, which an
//     idempotent inbox absorbs. What confirming costs (BenchmarkAck,
//     embedded server in the same process, 100 per Receive, 16 goroutines
//     acknowledging, 2 busy cores): about 22µs a message with Ack, 12µs
//     with AckAsync, 10µs without confirmation; through a Consumer see the
//     benchmarks' README ("consume").
//   - Redeliver is NakWithDelay: the server delivers the message again once
//     the delay has passed; meanwhile it counts towards MaxAckPending.
//     Release is Nak: delivered again at once. Extend is InProgress: the
//     message's AckWait starts again. Each waits for the server's
//     confirmation.
//   - Message.Attempt is JetStream's NumDelivered, which counts every
//     delivery: those after a Release (a shutdown) and after an AckWait that
//     ran out too. A message released by many restarts gets closer to the
//     Consumer's MaxAttempts.
//   - consume.ErrGone: Ack, Redeliver, Release and Extend fail with it when
//     the consumer or its stream no longer exists (nobody answers the
//     acknowledgement). The server does not say more: it applies an
//     acknowledgement of any delivery of a message it still has pending,
//     even one whose AckWait ran out and that it delivered again, and
//     answers an acknowledgement of a message no longer pending as if it had
//     applied it. Keep the Consumer's ExtendEvery (10s by default) well
//     under AckWait (30s), so that held messages do not run out.
//   - Per-key order across a crash: the messages a killed process held
//     come back only when their AckWait runs out, in the order their
//     leases run out, and JetStream meanwhile hands out the messages after
//     them, so a new process would run a key's later message before the
//     earlier one it never finished. So a Source's first Receive, finding
//     such messages, rewinds the durable to its ack floor with JetStream's
//     consumer reset (nats-server 2.14 and later): everything after the
//     floor is delivered again, in stream order, at once, with Attempt
//     counted from 1 again; messages acknowledged above the floor come
//     again too, and an idempotent inbox skips them. Older servers have no
//     reset: there Config.WaitOutLeases makes the first Receive wait one
//     AckWait instead, take the held messages back and return them in
//     stream order before any new message (which holds when the crashed
//     process held no more than the new Consumer's MaxPending); without it
//     a crash may reorder a key. A fault test (tests/consumefault) kills
//     the consuming process ten times over 50,000 messages on 500 keys, on
//     both kinds of server, and
//     finds every key's effects in order. Config.Shared turns both off for
//     durables that several processes consume at once.
//   - Per-key order holds with one Consumer per durable. Several processes
//     pulling from one durable share its messages, but a pull consumer
//     hands any message to any of them, so two messages of one key can run
//     at once in two processes. To spread keyed work, give each process a
//     durable of its own over a share of the subjects (FilterSubjects).
//
// # Messages
//
// A message natsoutbox published decodes to its outbox message: ID from
// Nats-Msg-Id, Key from Bulwark-Key, PublishedAt from Bulwark-Created-At,
// and its own headers, with the values natsoutbox sent in base64 decoded.
// Other messages get, as ID, the IDHeader if they have one (a replayed dead
// letter), else their Nats-Msg-Id, else "<stream>:<stream sequence>" (which
// the stream never reuses); as Key, the header Config.KeyHeader names (none
// by default); as PublishedAt, when the stream stored them. Headers never
// include JetStream's and bulwark's own (names starting with Nats- or
// Bulwark-, in any case). Decoding never fails: a damaged bulwark header
// is read as far as it can be, so that the handler and the dead letters see
// the message instead of the stream stalling on it. Metadata is a
// *Metadata: stream, consumer, sequences, NumDelivered, NumPending, the
// stream's timestamp and the headers as they arrived.
//
// # Dead letters
//
// DeadLetters is a retry.DeadLetterSink[consume.Message] that publishes
// each letter to DeadLetterConfig.Subject, expecting DeadLetterConfig.Stream
// to store it: the payload as it was, the message's headers, and its ID,
// Key, PublishedAt, subject, Attempt, the error and the attempt history in
// Bulwark- headers. List reads letters back, oldest first; Replay publishes
// one again to its subject, with its ID, Key, headers and PublishedAt, and
// deletes it; Discard deletes it. A replay's Nats-Msg-Id is
// "bulwark-replay:<stream>:<sequence>", not the message's ID: the first
// publish may still be within the source stream's duplicate window, which
// would drop the replay. The ID travels in IDHeader, so consumers (and
// their inboxes) see the same ID.
//
// # Zero Config
//
// Config{Stream: s, Durable: d} is DefaultConfig() with them: AckWait 30s,
// MaxAckPending 1000, MaxBatch 100, FetchWait 1s, AckTimeout 5s, confirmed
// acks (collected off the Consumer's workers, with AckAsync), no wait for a crashed process's leases, no key header for foreign
// messages.
//
// # Events
//
// With Config.Observer set, the Source reports FetchFailed for each failure
// Receive rides out (JetStream not answering while a server restarts, a
// timeout), with the wait before it tries again.
package natsconsume
