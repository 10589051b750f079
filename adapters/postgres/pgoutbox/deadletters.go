package pgoutbox

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Stats implements outbox.Store.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	s.check()
	var st outbox.Stats
	var pending, dead int64
	var oldest pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, s.sql.stats).Scan(&pending, &oldest, &dead); err != nil {
		return st, fmt.Errorf("pgoutbox: reading stats: %w", err)
	}
	st.Pending, st.DeadLetters = int(pending), int(dead)
	if oldest.Valid {
		st.Oldest = oldest.Time
	}
	return st, nil
}

// DeadLetters implements outbox.Store.
func (s *Store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	s.check()
	if q.Limit < 1 {
		return nil, fmt.Errorf("pgoutbox: DeadLetterQuery.Limit must be at least 1, got %d", q.Limit)
	}
	rows, err := s.pool.Query(ctx, s.sql.deadLetters, q.After, q.Key, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("pgoutbox: listing dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outbox.DeadLetter, error) {
		var d outbox.DeadLetter
		var id pgtype.UUID
		var headers []byte
		var attempts int32
		var createdAt, deadAt time.Time
		if err := row.Scan(&d.Position, &id, &d.Topic, &d.Key, &d.Payload, &headers, &createdAt, &attempts, &d.LastError, &deadAt); err != nil {
			return d, err
		}
		d.ID, d.CreatedAt, d.DeadAt, d.Attempts = id.Bytes, createdAt, deadAt, int(attempts)
		if d.Headers, err = outbox.DecodeHeaders(headers); err != nil {
			return d, fmt.Errorf("decoding the headers of message %s: %w", d.ID, err)
		}
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgoutbox: listing dead letters: %w", err)
	}
	return out, nil
}

// Replay implements outbox.Store. It first locks the pending messages of
// the replayed messages' keys, waiting for claims that hold those keys to
// end: a replayed message takes back its old place, first in its key, and
// must not be claimed while later messages of its key are being published
// (possible when the relay skips dead letters). The insert fires the notify
// trigger, so listening relays wake at once.
func (s *Store) Replay(ctx context.Context, ids ...uuid.UUID) (int, error) {
	s.check()
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		list := uuidStrings(ids)
		if _, err := tx.Exec(ctx, s.sql.replayLock, list); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.sql.replay, list)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pgoutbox: replaying dead letters: %w", err)
	}
	return int(n), nil
}

// Discard implements outbox.Store.
func (s *Store) Discard(ctx context.Context, ids ...uuid.UUID) (int, error) {
	s.check()
	tag, err := s.pool.Exec(ctx, s.sql.discard, uuidStrings(ids))
	if err != nil {
		return 0, fmt.Errorf("pgoutbox: discarding dead letters: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Cleanup implements outbox.Store.
func (s *Store) Cleanup(ctx context.Context, publishedBefore time.Time) (int, error) {
	s.check()
	tag, err := s.pool.Exec(ctx, s.sql.cleanup, publishedBefore)
	if err != nil {
		return 0, fmt.Errorf("pgoutbox: deleting published messages: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
