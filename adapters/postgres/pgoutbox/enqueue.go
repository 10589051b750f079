package pgoutbox

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglock"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/jackc/pgx/v5"
)

// maxRowsPerInsert keeps an INSERT's parameters (6 per message) well under
// PostgreSQL's 65535.
const maxRowsPerInsert = 1000

// Enqueue writes msgs into the outbox in the caller's pgx transaction, in
// order; the relay publishes them once tx commits, and never if it rolls
// back. Zero IDs, empty keys and zero CreatedAt are filled in msgs (see
// outbox.Prepare). It first takes a transaction-scoped advisory lock on each
// distinct key (in a fixed order), so that transactions enqueueing for the
// same key commit in the order they got their sequence numbers; a second
// transaction enqueueing for a key waits for the first to end. One round
// trip per 1000 messages.
func (s *Store) Enqueue(ctx context.Context, tx pgx.Tx, msgs ...outbox.Message) error {
	s.check()
	if len(msgs) == 0 {
		return nil
	}
	if err := outbox.Prepare(msgs, time.Now()); err != nil {
		return err
	}
	b := &pgx.Batch{}
	lock, lockArgs := s.lockStatement(msgs)
	b.Queue(lock, lockArgs...)
	for chunk := range slices.Chunk(msgs, maxRowsPerInsert) {
		insert, args, err := s.insertStatement(chunk)
		if err != nil {
			return err
		}
		b.Queue(insert, args...)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pgoutbox: enqueueing %d messages: %w", len(msgs), err)
	}
	return nil
}

// EnqueueSQL is Enqueue for a database/sql transaction on PostgreSQL (with
// pgx's stdlib driver, lib/pq or any driver that takes $n placeholders).
// Two round trips per call (the key locks, then the insert).
func (s *Store) EnqueueSQL(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error {
	s.check()
	if len(msgs) == 0 {
		return nil
	}
	if err := outbox.Prepare(msgs, time.Now()); err != nil {
		return err
	}
	lock, lockArgs := s.lockStatement(msgs)
	if _, err := tx.ExecContext(ctx, lock, lockArgs...); err != nil {
		return fmt.Errorf("pgoutbox: enqueueing %d messages: locking their keys: %w", len(msgs), err)
	}
	for chunk := range slices.Chunk(msgs, maxRowsPerInsert) {
		insert, args, err := s.insertStatement(chunk)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
			return fmt.Errorf("pgoutbox: enqueueing %d messages: %w", len(msgs), err)
		}
	}
	return nil
}

// lockStatement locks the distinct keys of msgs in ascending lock order, so
// two transactions locking overlapping keys cannot deadlock on them.
func (s *Store) lockStatement(msgs []outbox.Message) (string, []any) {
	locks := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		locks = append(locks, pglock.OutboxKey(s.lockNS, m.Key))
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	if len(locks) == 1 {
		return "SELECT pg_advisory_xact_lock($1::int8)", []any{locks[0]}
	}
	var b strings.Builder
	b.WriteString("SELECT pg_advisory_xact_lock(k) FROM (VALUES ")
	args := make([]any, len(locks))
	for i, l := range locks {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("($" + strconv.Itoa(i+1) + "::int8)")
		args[i] = l
	}
	b.WriteString(") AS v(k)")
	return b.String(), args
}

func (s *Store) insertStatement(msgs []outbox.Message) (string, []any, error) {
	var b strings.Builder
	b.WriteString("INSERT INTO " + s.table + " (id, topic, key, payload, headers, created_at) VALUES ")
	args := make([]any, 0, 6*len(msgs))
	for i, m := range msgs {
		var headers any
		if j, err := outbox.EncodeHeaders(m.Headers); err != nil {
			return "", nil, fmt.Errorf("pgoutbox: %w", err)
		} else if j != nil {
			headers = string(j)
		}
		payload := m.Payload
		if payload == nil {
			payload = []byte{}
		}
		if i > 0 {
			b.WriteString(", ")
		}
		n := 6 * i
		fmt.Fprintf(&b, "($%d::uuid, $%d, $%d, $%d::bytea, $%d::jsonb, $%d::timestamptz)", n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, m.ID.String(), m.Topic, m.Key, payload, headers, m.CreatedAt)
	}
	return b.String(), args, nil
}
