package pgidempotency

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/sqlinbox"
	"github.com/jackc/pgx/v5"
)

// DefaultRetention is the retention of the zero InboxConfig.
const DefaultRetention = sqlinbox.DefaultRetention

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
// Concurrent deliveries of one message wait for each other on the ID's
// row: the first commits, the others then find it processed. Run an
// idempotency.Cleaner over the Inbox to delete the IDs whose retention
// ended.
type Inbox struct {
	s  *Store
	in sqlinbox.Inbox[pgx.Tx]
}

// NewInbox returns an Inbox keeping its message IDs in store's table, or an
// error when store is nil or a setting of cfg is invalid. The zero
// InboxConfig is the default configuration.
func NewInbox(store *Store, cfg InboxConfig) (*Inbox, error) {
	if store == nil {
		return nil, errors.New("pgidempotency: NewInbox needs a store, got nil")
	}
	in, err := sqlinbox.New("pgidempotency", inboxDB{store}, sqlinbox.Config(cfg))
	if err != nil {
		return nil, err
	}
	return &Inbox{s: store, in: in}, nil
}

func (in *Inbox) check() {
	if in == nil || in.s == nil {
		panic("pgidempotency: Inbox used without NewInbox")
	}
}

// Process handles the message in a transaction unless it was processed
// already, and reports whether handle ran. handle does its writes through
// tx and must not commit or roll it back. A duplicate returns (false, nil),
// reported as an idempotency.Duplicate event: acknowledge it. When handle
// fails, the transaction, with the record, is rolled back and handle's
// error returned: the message counts as not processed and a redelivery
// runs it again.
func (in *Inbox) Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx pgx.Tx) error) (ran bool, err error) {
	in.check()
	return in.in.Process(ctx, messageID, handle)
}

// Cleanup deletes the IDs (and any other records in the table) whose
// retention ended, and returns how many it deleted. An idempotency.Cleaner
// runs it periodically.
func (in *Inbox) Cleanup(ctx context.Context) (int, error) {
	in.check()
	return idempotency.Cleanup(ctx, in.s, in.in.Now())
}

// inboxDB runs the inbox's statements on its store's database.
type inboxDB struct{ s *Store }

func (d inboxDB) Begin(ctx context.Context) (pgx.Tx, error) { return d.s.db.Begin(ctx) }

func (d inboxDB) Record(ctx context.Context, tx pgx.Tx, consumer, messageID []byte, now, expires time.Time) (bool, error) {
	tag, err := tx.Exec(ctx, d.s.sql.inboxInsert, consumer, messageID, now, expires)
	return tag.RowsAffected() != 0, err
}

func (inboxDB) Commit(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) }

func (inboxDB) Rollback(ctx context.Context, tx pgx.Tx) { _ = tx.Rollback(ctx) }
