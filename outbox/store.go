package outbox

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
)

// ErrClaimLost is returned by Batch.Finish when the claim ended before the
// outcome could be recorded: its lease ran out, or the database connection
// that held it was lost. Nothing is recorded; the messages become claimable
// again and are published again (at least once).
var ErrClaimLost = errors.New("outbox: claim lost before its outcome was recorded")

// Store is the driver interface a database implements for the Relay. Enqueue
// is not part of it: each driver offers its own Enqueue taking the
// transaction type of its database (pgx.Tx, *sql.Tx), so a message is
// written in the caller's transaction. Enqueue calls Prepare first, and
// every message read back (claimed or dead) has exactly the bytes it was
// enqueued with: ID, Topic, Key, Payload, every header name and value, and
// CreatedAt to the microsecond. A driver keeping headers in a JSON or text
// column stores them with EncodeHeaders.
//
// Every driver passes the conformance suite in outboxtest, which specifies
// the behaviour below.
type Store interface {
	// Claim takes up to req.Limit messages that are ready to publish and
	// holds them until the batch is finished or released.
	//
	// A claim takes, for each key, a prefix of that key's pending messages
	// in enqueue order, starting with the oldest: a key whose oldest
	// pending message is held by another claim, waits for a retry, or (when
	// req.SkipDeadLetters is false) has a dead letter, contributes nothing.
	// So no two claims ever hold messages of the same key, and a message is
	// never claimed while an earlier one of its key is unpublished.
	Claim(ctx context.Context, req ClaimRequest) (Batch, error)

	// Stats counts pending messages and dead letters, and finds the
	// creation time of the oldest pending message.
	Stats(ctx context.Context) (Stats, error)

	// DeadLetters lists dead letters in the order they were enqueued,
	// starting after q.After (a DeadLetter.Position; 0 for the start).
	DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)

	// Replay moves the dead letters with the given message IDs back to the
	// pending messages, in their original place in their key's order and
	// with their attempts reset, and returns how many it moved. Unknown IDs
	// are ignored.
	Replay(ctx context.Context, ids ...uuid.UUID) (int, error)

	// Discard deletes the dead letters with the given message IDs and
	// returns how many it deleted, unblocking their keys. Unknown IDs are
	// ignored.
	Discard(ctx context.Context, ids ...uuid.UUID) (int, error)

	// Cleanup deletes messages that were published (and kept, see
	// Outcome.Keep) before the given time and returns how many.
	Cleanup(ctx context.Context, publishedBefore time.Time) (int, error)
}

// Listener is implemented by stores that can tell the relay at once when new
// messages are committed (PostgreSQL's LISTEN/NOTIFY, the memory store).
// Without it the relay finds new messages by polling.
type Listener interface {
	// Listen calls wake once it is listening (commits may have been missed
	// before), then after each commit of new messages (several commits may
	// share one call), until ctx is done or the notification channel fails. It returns ctx.Err() or the failure; the relay then polls and
	// calls Listen again after a pause.
	Listen(ctx context.Context, wake func()) error
}

// ClaimRequest says what Store.Claim should take.
type ClaimRequest struct {
	// Limit is the most messages to claim; at least 1.
	Limit int
	// Now is the relay's current time: messages whose retry time is after
	// it are not ready.
	Now time.Time
	// Lease is how long the claim holds its messages at most. A claim not
	// finished by then may be taken over by another relay, so that a relay
	// that died or hangs holds nothing for ever. Drivers that hold claims in
	// a database transaction also end that transaction after Lease.
	Lease time.Duration
	// SkipDeadLetters lets the later messages of a key with a dead letter be
	// claimed. When false, a dead letter blocks its key until it is replayed
	// or discarded.
	SkipDeadLetters bool
}

// Batch is a claim on a set of messages, held until Finish or Release.
type Batch interface {
	// Messages returns the claimed messages in enqueue order (so each key's
	// messages in their order).
	Messages() []Claimed
	// Contended reports that the claim passed over ready messages because
	// another claim held earlier messages of their keys: more work may be
	// ready as soon as that claim finishes.
	Contended() bool
	// Finish records the outcome and ends the claim. Messages the outcome
	// does not mention are released unchanged. Finish records the whole
	// outcome or nothing (one transaction), never a part: when it fails —
	// the claim was lost first (the error wraps ErrClaimLost), ctx ended,
	// the database failed — nothing is recorded and the messages are
	// claimable again as they were, once the claim's lease or connection
	// ends at the latest. (Only a commit whose reply was lost may have
	// recorded everything though Finish failed.) Finish returns promptly
	// when ctx is done.
	Finish(ctx context.Context, o Outcome) error
	// Release ends the claim without recording anything: every message is
	// claimable again as it was. Release after Finish does nothing.
	Release(ctx context.Context) error
}

// Chainer is implemented by batches that can record their outcome and
// claim the next batch in one round trip to the database (pgoutbox's). The
// relay uses it while full batches keep coming, halving its round trips.
type Chainer interface {
	// FinishAndClaim is Finish(ctx, o) followed by Store.Claim(ctx, next).
	// When the outcome cannot be recorded it returns Finish's error and no
	// batch. When the outcome was recorded but the claim failed, it
	// returns no batch and no error: the caller claims again as usual.
	FinishAndClaim(ctx context.Context, o Outcome, next ClaimRequest) (Batch, error)
}

// Claimed is a claimed message with its delivery history.
type Claimed struct {
	Message
	// Attempts is the number of failed publish attempts so far.
	Attempts int
}

// Outcome is what happened to a batch, by index into Batch.Messages.
type Outcome struct {
	// Now is the relay's current time, recorded as the publish time of kept
	// messages and the time of dead letters.
	Now time.Time
	// Published lists the messages the broker accepted.
	Published []int
	// Keep retains published messages (for Store.Cleanup to delete later)
	// instead of deleting them at once.
	Keep bool
	// Failed lists messages whose publish failed.
	Failed []Failure
}

// Failure is a failed publish of one claimed message.
type Failure struct {
	// Index is the message's index in Batch.Messages.
	Index int
	// Error is the publish error's text, kept with the message.
	Error string
	// Dead moves the message to the dead letters. Otherwise it stays
	// pending, with one more attempt counted, until RetryAt.
	Dead bool
	// RetryAt is the earliest time the message may be claimed again.
	RetryAt time.Time
}

// Stats is a snapshot of a store's backlog.
type Stats struct {
	// Pending counts messages not yet published (including those waiting
	// for a retry).
	Pending int
	// Oldest is the CreatedAt of the oldest pending message; zero when
	// there is none.
	Oldest time.Time
	// DeadLetters counts dead letters.
	DeadLetters int
}

// DeadLetterQuery selects dead letters to list.
type DeadLetterQuery struct {
	// Key, when not empty, lists only dead letters with this key.
	Key string
	// After lists only dead letters with a Position greater than this.
	After int64
	// Limit is the most to return; at least 1.
	Limit int
}

// DeadLetter is a message the relay gave up on after its last attempt.
type DeadLetter struct {
	Message
	// Position orders dead letters as their messages were enqueued; pass
	// the last one seen as DeadLetterQuery.After to list the next page.
	Position int64
	// Attempts is the number of failed publish attempts.
	Attempts int
	// LastError is the text of the last publish error.
	LastError string
	// DeadAt is when the message was dead-lettered.
	DeadAt time.Time
}
