package idempotency_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
)

// inboxSchema is the inbox's table and the effects table the suite's
// handlers write to. A row of inbox is a message a consumer processed
// (done = 1) or, for the "claim-first" flaw, claimed (done = 0), until
// until_ms.
const inboxSchema = `
CREATE TABLE IF NOT EXISTS inbox (
	consumer   TEXT NOT NULL,
	message_id TEXT NOT NULL,
	done       INTEGER NOT NULL,
	until_ms   INTEGER NOT NULL,
	PRIMARY KEY (consumer, message_id)
);
CREATE TABLE IF NOT EXISTS effects (message_id TEXT NOT NULL);`

// inbox is a transactional inbox of this package on SQLite: it runs a
// message's handler in a transaction that also records the message as
// processed, so that both commit or neither does. flaw names its
// deliberate defect ("" for none).
type inbox struct {
	db        *sql.DB
	consumer  string
	retention time.Duration
	clock     clock.Clock
	observer  bulwark.Observer
	flaw      string
}

var _ idempotencytest.TxInbox[*sql.Tx] = (*inbox)(nil)

func newInbox(db *sql.DB, s idempotencytest.InboxSettings, flaw string) (*inbox, error) {
	if s.Retention < time.Millisecond {
		return nil, fmt.Errorf("inbox: retention must be at least 1ms, got %v", s.Retention)
	}
	in := &inbox{db: db, consumer: s.Consumer, retention: s.Retention, clock: clock.OrSystem(s.Clock), observer: s.Observer, flaw: flaw}
	switch flaw {
	case "ignores-consumer": // one set of message IDs for every consumer
		in.consumer = ""
	case "short-retention":
		in.retention -= time.Millisecond
	}
	return in, nil
}

// querier is what inbox reads and writes through: the database, or a
// transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// taken reports whether the message is processed (or, with "claim-first",
// claimed) and its retention not over at now.
func (in *inbox) taken(ctx context.Context, q querier, messageID string, now time.Time) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM inbox WHERE consumer = ? AND message_id = ? AND until_ms > ?`,
		in.consumer, messageID, now.UnixMilli()).Scan(&n)
	return n > 0, err
}

// record writes the message's row through q: done, or claimed.
func (in *inbox) record(ctx context.Context, q querier, messageID string, done bool, until time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT OR REPLACE INTO inbox (consumer, message_id, done, until_ms) VALUES (?, ?, ?, ?)`,
		in.consumer, messageID, done, until.UnixMilli())
	return err
}

// Process runs handle in a transaction unless the message was processed,
// and reports whether it ran. A duplicate is reported to the observer as
// an idempotency.Duplicate event.
func (in *inbox) Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx *sql.Tx) error) (ran bool, err error) {
	now := in.clock.Now().Truncate(time.Millisecond)
	until := now.Add(in.retention)
	duplicate := func() (bool, error) {
		if in.observer != nil {
			in.observer.Observe(ctx, idempotency.Duplicate{Consumer: in.consumer, MessageID: messageID})
		}
		return false, nil
	}
	checked := false // whether the message was looked up already
	switch in.flaw {
	case "check-then-act": // looks before it takes the lock
		checked = true
		if taken, err := in.taken(ctx, in.db, messageID, now); err != nil || taken {
			if err != nil {
				return false, err
			}
			return duplicate()
		}
	case "record-first", "claim-first": // records the message, then handles it apart
		checked = true
		taken, err := in.recordApart(ctx, messageID, now, in.flaw == "record-first", until)
		if err != nil || taken {
			if err != nil {
				return false, err
			}
			return duplicate()
		}
	}
	tx, err := in.db.BeginTx(ctx, nil) // sqlite.Open's BEGIN IMMEDIATE: one writer at a time
	if err != nil {
		return false, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if !checked {
		if taken, err := in.taken(ctx, tx, messageID, now); err != nil || taken {
			if err != nil {
				return false, err
			}
			return duplicate()
		}
	}
	if err := handle(ctx, tx); err != nil {
		if in.flaw == "commits-failed-writes" {
			committed = tx.Commit() == nil
		}
		if in.flaw == "claim-first" {
			_ = in.forget(ctx, messageID)
		}
		return true, err
	}
	if err := in.record(ctx, tx, messageID, true, until); err != nil {
		return true, err
	}
	if err := tx.Commit(); err != nil {
		return true, err
	}
	committed = true
	return true, nil
}

// recordApart takes the message in a transaction of its own, before the
// handler's: processed (done) or claimed for an hour. It reports whether
// another delivery had taken it.
func (in *inbox) recordApart(ctx context.Context, messageID string, now time.Time, done bool, until time.Time) (taken bool, err error) {
	tx, err := in.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	if taken, err := in.taken(ctx, tx, messageID, now); err != nil || taken {
		return taken, err
	}
	if !done {
		until = now.Add(time.Hour)
	}
	if err := in.record(ctx, tx, messageID, done, until); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

// forget deletes the message's claim ("claim-first", after a failure).
func (in *inbox) forget(ctx context.Context, messageID string) error {
	_, err := in.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM inbox WHERE consumer = ? AND message_id = ? AND done = 0`, in.consumer, messageID)
	return err
}

// Cleanup deletes the messages whose retention ended.
func (in *inbox) Cleanup(ctx context.Context) (int, error) {
	res, err := in.db.ExecContext(ctx, `DELETE FROM inbox WHERE until_ms <= ?`, in.clock.Now().Truncate(time.Millisecond).UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// inboxHarness gives the suites inboxes of flaw on db, whose tables
// exist.
func inboxHarness(db *sql.DB, flaw string) idempotencytest.InboxHarness[*sql.Tx] {
	return idempotencytest.InboxHarness[*sql.Tx]{
		NewInbox: func(s idempotencytest.InboxSettings) (idempotencytest.TxInbox[*sql.Tx], error) {
			return newInbox(db, s, flaw)
		},
		Effect: func(ctx context.Context, tx *sql.Tx, messageID string) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO effects (message_id) VALUES (?)`, messageID)
			return err
		},
		Effects: func(t *testing.T, messageID string) int {
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM effects WHERE message_id = ?`, messageID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
	}
}
