// Package sqlinbox is the part of bulwark's SQL inboxes
// (adapters/postgres/pgidempotency, adapters/sqlite/sqliteidempotency)
// that does not depend on the database: the settings, and the run of a
// message's handler in the transaction that records its ID.
package sqlinbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/idempotency"
)

// DefaultRetention is the retention of the zero Config.
const DefaultRetention = 7 * 24 * time.Hour

// Config holds an inbox's settings, as the InboxConfig of each SQL inbox
// package does field for field (which converts to it).
type Config struct {
	Consumer  string
	Retention time.Duration
	Clock     clock.Clock
	Name      string
	Observer  bulwark.Observer
}

// DB is what an inbox needs of its database, for transactions of type
// Tx. Errors are returned as they are: Process wraps them.
type DB[Tx any] interface {
	// Begin begins a transaction.
	Begin(ctx context.Context) (Tx, error)
	// Record inserts the ID of a message of consumer, processed at now
	// and remembered until expires, unless it is recorded already, and
	// reports whether it inserted it.
	Record(ctx context.Context, tx Tx, consumer, messageID []byte, now, expires time.Time) (bool, error)
	// Commit commits tx.
	Commit(ctx context.Context, tx Tx) error
	// Rollback rolls tx back, ignoring any error.
	Rollback(ctx context.Context, tx Tx)
}

// Inbox runs handlers once per message ID in db's transactions. Errors
// start with the inbox's kind (the package name) + ": ".
type Inbox[Tx any] struct {
	kind string
	db   DB[Tx]
	cfg  Config // defaults filled in
}

// New returns the inbox of kind with cfg's settings on db, or an error
// naming an invalid setting (InboxConfig.Retention must be 0 or at least
// 1ms).
func New[Tx any](kind string, db DB[Tx], cfg Config) (Inbox[Tx], error) {
	if cfg.Retention != 0 && cfg.Retention < time.Millisecond {
		return Inbox[Tx]{}, fmt.Errorf("%s: InboxConfig.Retention must be 0 (meaning %v) or at least 1ms, got %v", kind, DefaultRetention, cfg.Retention)
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	cfg.Clock = clock.OrSystem(cfg.Clock)
	return Inbox[Tx]{kind: kind, db: db, cfg: cfg}, nil
}

// Now returns the time by the inbox's clock, to the millisecond the
// databases keep.
func (in Inbox[Tx]) Now() time.Time { return in.cfg.Clock.Now().Truncate(time.Millisecond) }

// Process runs handle in a transaction that first records messageID, unless
// it was recorded already, and reports whether handle ran: the Process of
// the SQL inboxes.
func (in Inbox[Tx]) Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx Tx) error) (ran bool, err error) {
	if messageID == "" {
		return false, errors.New(in.kind + ": the message ID must not be empty")
	}
	tx, err := in.db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: inbox %q: begin: %w", in.kind, in.cfg.Consumer, err)
	}
	defer func() {
		if err != nil || !ran {
			in.db.Rollback(context.WithoutCancel(ctx), tx)
		}
	}()
	now := in.Now()
	recorded, err := in.db.Record(ctx, tx, []byte(in.cfg.Consumer), []byte(messageID), now, now.Add(in.cfg.Retention).Truncate(time.Millisecond))
	if err != nil {
		return false, fmt.Errorf("%s: inbox %q: recording message %q: %w", in.kind, in.cfg.Consumer, messageID, err)
	}
	if !recorded {
		if in.cfg.Observer != nil {
			in.cfg.Observer.Observe(ctx, idempotency.Duplicate{Name: in.cfg.Name, Consumer: in.cfg.Consumer, MessageID: messageID})
		}
		return false, nil
	}
	if err := handle(ctx, tx); err != nil {
		return true, err
	}
	if err := in.db.Commit(ctx, tx); err != nil {
		return true, fmt.Errorf("%s: inbox %q: committing message %q: %w", in.kind, in.cfg.Consumer, messageID, err)
	}
	return true, nil
}
