package sqliteidempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// InboxConfig configures an Inbox.
type InboxConfig struct {
	// Store holds the processed message IDs, in its table. Required.
	Store *Store
	// Consumer names the consumer: the scope of its message IDs. Required.
	Consumer string
	// Retention is how long a processed ID is remembered; a message
	// redelivered after it runs again. Must be > 0.
	Retention time.Duration
	// Clock tells the time. Nil means clock.System.
	Clock clock.Clock
	// OnDuplicate, if set, is called with the ID of each message skipped
	// because it had been processed.
	OnDuplicate func(messageID string)
}

// DefaultInboxConfig returns an InboxConfig with a 7-day retention. Set
// Store and Consumer before calling NewInbox.
func DefaultInboxConfig() InboxConfig {
	return InboxConfig{Retention: 7 * 24 * time.Hour}
}

// Inbox is a transactional idempotent consumer: it runs a message's handler
// in a transaction that also records the message ID as processed, so the
// handler's writes and the record commit together or not at all. A crash
// or a failed handler rolls both back and the redelivery runs again; a
// committed message is never handled twice within the retention window.
//
// Concurrent deliveries of one message wait for each other on SQLite's
// write lock: the first commits, the others then find it processed.
type Inbox struct {
	s     *Store
	cfg   InboxConfig
	clock clock.Clock
}

// NewInbox returns an Inbox, or an error naming the first invalid setting.
func NewInbox(cfg InboxConfig) (*Inbox, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("sqliteidempotency: InboxConfig.Store must be set")
	case cfg.Consumer == "":
		return nil, errors.New("sqliteidempotency: InboxConfig.Consumer must not be empty")
	case cfg.Retention <= 0:
		return nil, fmt.Errorf("sqliteidempotency: InboxConfig.Retention must be > 0, got %v", cfg.Retention)
	}
	return &Inbox{s: cfg.Store, cfg: cfg, clock: clock.OrSystem(cfg.Clock)}, nil
}

// Process handles the message in a transaction unless it was processed
// already, and reports whether handle ran. handle does its writes through
// tx and must not commit or roll it back. A duplicate returns (false, nil):
// acknowledge it. When handle fails, the transaction, with the record, is
// rolled back and handle's error returned: the message counts as not
// processed and a redelivery runs it again.
func (in *Inbox) Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx *sql.Tx) error) (ran bool, err error) {
	if messageID == "" {
		return false, errors.New("sqliteidempotency: the message ID must not be empty")
	}
	tx, err := in.s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqliteidempotency: inbox %s: begin: %w", in.cfg.Consumer, err)
	}
	defer func() {
		if err != nil || !ran {
			_ = tx.Rollback()
		}
	}()
	now := in.clock.Now().Truncate(time.Millisecond)
	res, err := tx.ExecContext(ctx, in.s.sql.inboxInsert, []byte(in.cfg.Consumer), []byte(messageID), ms(now), ms(now.Add(in.cfg.Retention)))
	if err != nil {
		return false, fmt.Errorf("sqliteidempotency: inbox %s: recording message %q: %w", in.cfg.Consumer, messageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqliteidempotency: inbox %s: recording message %q: %w", in.cfg.Consumer, messageID, err)
	}
	if n == 0 {
		if in.cfg.OnDuplicate != nil {
			in.cfg.OnDuplicate(messageID)
		}
		return false, nil
	}
	if err := handle(ctx, tx); err != nil {
		return true, err
	}
	if err := tx.Commit(); err != nil {
		return true, fmt.Errorf("sqliteidempotency: inbox %s: committing message %q: %w", in.cfg.Consumer, messageID, err)
	}
	return true, nil
}

// Cleanup deletes the IDs (and any other records in the table) whose
// retention ended, and returns how many it deleted.
func (in *Inbox) Cleanup(ctx context.Context) (int, error) {
	const batch = 1000
	total := 0
	for {
		n, err := in.s.DeleteExpired(ctx, in.clock.Now().Truncate(time.Millisecond), batch)
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}
