package outbox_test

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
)

// store is an outbox.Store of this package: it keeps messages in an
// outbox.MemoryStore, and has the deliberate defect flaw names ("" for
// none).
type store struct {
	mem  *outbox.MemoryStore
	flaw string
}

var (
	_ outbox.Store    = (*store)(nil)
	_ outbox.Listener = (*store)(nil)
	_ outbox.Chainer  = (*batch)(nil)
)

// Enqueue stores msgs at once, filling their zero IDs, empty keys and zero
// creation times in place.
func (s *store) Enqueue(ctx context.Context, msgs ...outbox.Message) error {
	if s.flaw != "headers-as-json" {
		return s.mem.Enqueue(ctx, msgs...)
	}
	// Keeps headers as a JSON object of strings: invalid UTF-8 comes back
	// as U+FFFD.
	stored := slices.Clone(msgs)
	for i := range stored {
		stored[i].Headers = jsonRoundTrip(stored[i].Headers)
	}
	err := s.mem.Enqueue(ctx, stored...)
	for i := range msgs {
		msgs[i].ID, msgs[i].Key, msgs[i].CreatedAt = stored[i].ID, stored[i].Key, stored[i].CreatedAt
	}
	return err
}

// jsonRoundTrip returns h as it comes back from a JSON object of strings.
func jsonRoundTrip(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	b, _ := json.Marshal(h)
	var out map[string]string
	_ = json.Unmarshal(b, &out)
	return out
}

func (s *store) Claim(ctx context.Context, req outbox.ClaimRequest) (outbox.Batch, error) {
	switch s.flaw {
	case "skips-dead-letters": // hands out a key's later messages behind its dead letter
		req.SkipDeadLetters = true
	case "claims-before-retry": // judges retry times a day ahead
		req.Now = req.Now.Add(24 * time.Hour)
	case "ignores-lease": // a claim that holds nothing: the next claim takes its keys too
		req.Lease = 0
	}
	b, err := s.mem.Claim(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.wrap(b), nil
}

func (s *store) wrap(b outbox.Batch) *batch {
	return &batch{Batch: b, flaw: s.flaw, reversed: s.flaw == "reverses-batch"}
}

func (s *store) Stats(ctx context.Context) (outbox.Stats, error) { return s.mem.Stats(ctx) }

func (s *store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	return s.mem.DeadLetters(ctx, q)
}

func (s *store) Replay(ctx context.Context, ids ...uuid.UUID) (int, error) {
	return s.mem.Replay(ctx, ids...)
}

func (s *store) Discard(ctx context.Context, ids ...uuid.UUID) (int, error) {
	return s.mem.Discard(ctx, ids...)
}

func (s *store) Cleanup(ctx context.Context, publishedBefore time.Time) (int, error) {
	return s.mem.Cleanup(ctx, publishedBefore)
}

func (s *store) Listen(ctx context.Context, wake func()) error { return s.mem.Listen(ctx, wake) }

// batch is a claim of the memory store. With reversed it hands its
// messages out last first (a key's second message before its first), and
// maps the outcome's indexes back.
type batch struct {
	outbox.Batch
	flaw     string
	reversed bool
}

func (b *batch) Messages() []outbox.Claimed {
	msgs := b.Batch.Messages()
	if b.reversed {
		msgs = slices.Clone(msgs)
		slices.Reverse(msgs)
	}
	return msgs
}

// outcome maps o's indexes, into Messages, to the memory batch's.
func (b *batch) outcome(o outbox.Outcome) outbox.Outcome {
	if !b.reversed {
		return o
	}
	n := len(b.Batch.Messages())
	o.Published = slices.Clone(o.Published)
	for i, p := range o.Published {
		o.Published[i] = n - 1 - p
	}
	o.Failed = slices.Clone(o.Failed)
	for i := range o.Failed {
		o.Failed[i].Index = n - 1 - o.Failed[i].Index
	}
	return o
}

func (b *batch) Finish(ctx context.Context, o outbox.Outcome) error {
	if b.flaw == "finish-records-then-fails" && ctx.Err() != nil {
		_ = b.Batch.Finish(context.WithoutCancel(ctx), b.outcome(o)) // records it all, yet reports the failure
		return ctx.Err()
	}
	return b.Batch.Finish(ctx, b.outcome(o))
}

func (b *batch) FinishAndClaim(ctx context.Context, o outbox.Outcome, next outbox.ClaimRequest) (outbox.Batch, error) {
	nb, err := b.Batch.(outbox.Chainer).FinishAndClaim(ctx, b.outcome(o), next)
	if nb == nil {
		return nil, err
	}
	return &batch{Batch: nb, flaw: b.flaw, reversed: b.reversed}, err
}
