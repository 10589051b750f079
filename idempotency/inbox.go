package idempotency

import (
	"context"
	"errors"
	"fmt"
)

// InboxConfig configures an Inbox.
type InboxConfig struct {
	// Keeper holds the processed message IDs. Its TTL is the retention
	// window: a message redelivered after it counts as new. Required.
	Keeper *Keeper

	// Consumer names the consumer; it is the scope of the message IDs, so
	// consumers sharing a store each process every message once. Required.
	Consumer string

	// OnDuplicate, if set, is called with the ID of each message skipped
	// because it had been processed.
	OnDuplicate func(messageID string)
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
	k        *Keeper
	consumer string
	onDup    func(string)
}

// NewInbox returns an Inbox, or an error naming the first invalid setting.
func NewInbox(cfg InboxConfig) (*Inbox, error) {
	switch {
	case cfg.Keeper == nil:
		return nil, errors.New("idempotency: InboxConfig.Keeper must be set")
	case cfg.Consumer == "":
		return nil, errors.New("idempotency: InboxConfig.Consumer must not be empty")
	}
	return &Inbox{k: cfg.Keeper, consumer: cfg.Consumer, onDup: cfg.OnDuplicate}, nil
}

// Process runs handle for the message unless it was processed already. It
// reports whether handle ran. A duplicate returns (false, nil): acknowledge
// it. While another delivery of the same message is being handled,
// Process returns an error wrapping ErrInProgress (after the Keeper's Wait):
// let the broker redeliver it later. handle's error is returned as is, after
// releasing the ID; a panic in handle releases it too.
func (in *Inbox) Process(ctx context.Context, messageID string, handle func(context.Context) error) (bool, error) {
	att, _, err := in.k.Start(ctx, Request{Scope: in.consumer, Key: messageID})
	if err != nil {
		return false, fmt.Errorf("idempotency: inbox %s, message %q: %w", in.consumer, messageID, err)
	}
	if att == nil {
		if in.onDup != nil {
			in.onDup(messageID)
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
