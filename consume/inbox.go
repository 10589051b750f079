package consume

import (
	"context"
	"errors"
)

// Inbox is an idempotent inbox: Process runs handle in a transaction that
// also records messageID as processed, unless it was processed already, and
// reports whether handle ran. pgidempotency.Inbox (Tx pgx.Tx) and
// sqliteidempotency.Inbox (Tx *sql.Tx) are Inboxes.
type Inbox[Tx any] interface {
	Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx Tx) error) (bool, error)
}

// InboxHandler returns a Handler that handles each message through in, on
// its Message.ID: handle does its writes in the inbox's transaction, so
// they and the record of the message commit together, and a redelivered or
// duplicated message whose effect was committed is acknowledged without
// running handle again. A message with an empty ID is refused as a
// Permanent error. InboxHandler panics when in or handle is nil.
func InboxHandler[Tx any](in Inbox[Tx], handle func(ctx context.Context, tx Tx, m *Message) error) Handler {
	if in == nil {
		panic("consume: InboxHandler: in (the Inbox) is nil")
	}
	if handle == nil {
		panic("consume: InboxHandler: handle is nil")
	}
	return HandlerFunc(func(ctx context.Context, m *Message) error {
		if m.ID == "" {
			return Permanent(errors.New("consume: InboxHandler: message has no ID to deduplicate on"))
		}
		_, err := in.Process(ctx, m.ID, func(ctx context.Context, tx Tx) error { return handle(ctx, tx, m) })
		return err
	})
}
