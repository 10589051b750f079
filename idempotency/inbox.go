package idempotency

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
)

// InboxConfig configures an Inbox. The zero InboxConfig is the default: one
// unnamed consumer.
type InboxConfig struct {
	// Consumer names the consumer; it is the scope of the message IDs, so
	// consumers sharing a Keeper's store each process every message once.
	// "" is a consumer like any other: set a name whenever several
	// consumers share a store.
	Consumer string

	// Name identifies the inbox in its events. Optional.
	Name string

	// Observer receives the inbox's Duplicate events. Nil observes nothing.
	Observer bulwark.Observer
}

// Inbox is an idempotent consumer: it runs a message's handler once per
// message ID, however often the broker delivers it. A message counts as
// processed only when its handler succeeded: after a failure the key is
// released and a redelivery runs the handler again.
//
// Inbox keeps the processed IDs beside, not inside, the handler's own
// writes: if the process dies after the handler's effect but before the ID
// is recorded, the lease runs out and a redelivery runs the handler again.
// When the handler writes to the same SQL database as the store, use the
// store's transactional inbox instead (pgidempotency.Inbox,
// sqliteidempotency.Inbox): the ID commits with the handler's writes.
type Inbox struct {
	k   *Keeper
	cfg InboxConfig
}

// NewInbox returns an Inbox keeping its message IDs with keeper (whose TTL
// is the retention window: a message redelivered after it counts as new).
// It fails only for a nil keeper; the zero InboxConfig is the default.
func NewInbox(keeper *Keeper, cfg InboxConfig) (*Inbox, error) {
	if keeper == nil {
		return nil, errors.New("idempotency: NewInbox needs a keeper, got nil")
	}
	return &Inbox{k: keeper, cfg: cfg}, nil
}

// Process runs handle for the message unless it was processed already. It
// reports whether handle ran. A duplicate returns (false, nil), reported as
// a Duplicate event: acknowledge it. While another delivery of the same
// message is being handled, Process returns an error wrapping
// ErrInProgress (after the Keeper's Wait): let the broker redeliver it
// later. handle's error is returned as is, after releasing the ID; a panic
// in handle releases it too. handle's context carries the Attempt (see
// AttemptFrom).
func (in *Inbox) Process(ctx context.Context, messageID string, handle func(context.Context) error) (bool, error) {
	if in == nil || in.k == nil {
		panic("idempotency: Inbox used without NewInbox")
	}
	att, _, err := in.k.Start(ctx, Request{Scope: in.cfg.Consumer, Key: messageID})
	if err != nil {
		return false, fmt.Errorf("idempotency: inbox %q, message %q: %w", in.cfg.Consumer, messageID, err)
	}
	if att == nil {
		if in.cfg.Observer != nil {
			in.cfg.Observer.Observe(ctx, Duplicate{Name: in.cfg.Name, Consumer: in.cfg.Consumer, MessageID: messageID})
		}
		return false, nil
	}
	_, err = runAttempt(ctx, att, func(ctx context.Context) (struct{}, error) { return struct{}{}, handle(ctx) })
	done := context.WithoutCancel(ctx)
	if err != nil {
		if rerr := att.Release(done); rerr != nil {
			return true, errors.Join(err, rerr)
		}
		return true, err
	}
	return true, att.Complete(done, nil)
}
