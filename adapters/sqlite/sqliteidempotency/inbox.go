package sqliteidempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/idempotency"
)

// DefaultRetention is the retention of the zero InboxConfig.
const DefaultRetention = 7 * 24 * time.Hour

// InboxConfig configures an Inbox. Every zero field means the default its
// comment names, so InboxConfig{} is the default configuration.
type InboxConfig struct {
	// Consumer names the consumer: the scope of its message IDs, so
	// consumers sharing a table each process every message once. "" is a
	// consumer like any other: name each when several share a table.
	Consumer string
	// Retention is how long a processed ID is remembered; a message
	// redelivered after it runs again. 0 means DefaultRetention (7 days);
	// otherwise at least 1ms.
	Retention time.Duration
	// Clock tells the time. Nil means clock.System.
	Clock clock.Clock
	// Name identifies the inbox in its events. Optional.
	Name string
	// Observer receives an idempotency.Duplicate event for each message
	// skipped as processed. Nil observes nothing.
	Observer bulwark.Observer
}

// DefaultInboxConfig returns the defaults that InboxConfig{} stands for,
// spelled out: one unnamed consumer, a 7-day retention, the system clock.
func DefaultInboxConfig() InboxConfig {
	return InboxConfig{Retention: DefaultRetention, Clock: clock.System}
}

// Inbox is a transactional idempotent consumer: it runs a message's handler
// in a transaction that also records the message ID as processed, so the
// handler's writes and the record commit together or not at all. A crash
// or a failed handler rolls both back and the redelivery runs again; a
// committed message is never handled twice within the retention window.
//
// Concurrent deliveries of one message wait for each other on SQLite's
// write lock: the first commits, the others then find it processed. Run an
// idempotency.Cleaner over the Inbox to delete the IDs whose retention
// ended.
type Inbox struct {
	s   *Store
	cfg InboxConfig // defaults filled in
}

// NewInbox returns an Inbox keeping its message IDs in store's table, or an
// error when store is nil or a setting of cfg is invalid. The zero
// InboxConfig is the default configuration.
func NewInbox(store *Store, cfg InboxConfig) (*Inbox, error) {
	switch {
	case store == nil:
		return nil, errors.New("sqliteidempotency: NewInbox needs a store, got nil")
	case cfg.Retention != 0 && cfg.Retention < time.Millisecond:
		return nil, fmt.Errorf("sqliteidempotency: InboxConfig.Retention must be 0 (meaning %v) or at least 1ms, got %v", DefaultRetention, cfg.Retention)
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	cfg.Clock = clock.OrSystem(cfg.Clock)
	return &Inbox{s: store, cfg: cfg}, nil
}

func (in *Inbox) check() {
	if in == nil || in.s == nil {
		panic("sqliteidempotency: Inbox used without NewInbox")
	}
}

func (in *Inbox) now() time.Time { return in.cfg.Clock.Now().Truncate(time.Millisecond) }

// Process handles the message in a transaction unless it was processed
// already, and reports whether handle ran. handle does its writes through
// tx and must not commit or roll it back. A duplicate returns (false, nil),
// reported as an idempotency.Duplicate event: acknowledge it. When handle
// fails, the transaction, with the record, is rolled back and handle's
// error returned: the message counts as not processed and a redelivery
// runs it again.
func (in *Inbox) Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx *sql.Tx) error) (ran bool, err error) {
	in.check()
	if messageID == "" {
		return false, errors.New("sqliteidempotency: the message ID must not be empty")
	}
	tx, err := in.s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqliteidempotency: inbox %q: begin: %w", in.cfg.Consumer, err)
	}
	defer func() {
		if err != nil || !ran {
			_ = tx.Rollback()
		}
	}()
	now := in.now()
	res, err := tx.ExecContext(ctx, in.s.sql.inboxInsert, []byte(in.cfg.Consumer), []byte(messageID), ms(now), ms(now.Add(in.cfg.Retention)))
	if err != nil {
		return false, fmt.Errorf("sqliteidempotency: inbox %q: recording message %q: %w", in.cfg.Consumer, messageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqliteidempotency: inbox %q: recording message %q: %w", in.cfg.Consumer, messageID, err)
	}
	if n == 0 {
		if in.cfg.Observer != nil {
			in.cfg.Observer.Observe(ctx, idempotency.Duplicate{Name: in.cfg.Name, Consumer: in.cfg.Consumer, MessageID: messageID})
		}
		return false, nil
	}
	if err := handle(ctx, tx); err != nil {
		return true, err
	}
	if err := tx.Commit(); err != nil {
		return true, fmt.Errorf("sqliteidempotency: inbox %q: committing message %q: %w", in.cfg.Consumer, messageID, err)
	}
	return true, nil
}

// Cleanup deletes the IDs (and any other records in the table) whose
// retention ended, and returns how many it deleted. An idempotency.Cleaner
// runs it periodically.
func (in *Inbox) Cleanup(ctx context.Context) (int, error) {
	in.check()
	return idempotency.Cleanup(ctx, in.s, in.now())
}
