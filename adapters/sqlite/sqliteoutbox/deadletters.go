package sqliteoutbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
)

// Stats implements outbox.Store.
func (s *Store) Stats(ctx context.Context) (outbox.Stats, error) {
	s.check()
	var st outbox.Stats
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.sql.stats).Scan(&st.Pending, &oldest, &st.DeadLetters); err != nil {
		return st, fmt.Errorf("sqliteoutbox: reading stats: %w", err)
	}
	if oldest.Valid {
		st.Oldest = time.Unix(0, oldest.Int64)
	}
	return st, nil
}

// DeadLetters implements outbox.Store.
func (s *Store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	s.check()
	if q.Limit < 1 {
		return nil, fmt.Errorf("sqliteoutbox: DeadLetterQuery.Limit must be at least 1, got %d", q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.sql.deadLetters, q.After, q.Key, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqliteoutbox: listing dead letters: %w", err)
	}
	defer rows.Close()
	var out []outbox.DeadLetter
	for rows.Next() {
		var (
			d               outbox.DeadLetter
			id              string
			headers         sql.NullString
			created, deadAt int64
		)
		if err := rows.Scan(&d.Position, &id, &d.Topic, &d.Key, &d.Payload, &headers, &created, &d.Attempts, &d.LastError, &deadAt); err != nil {
			return nil, fmt.Errorf("sqliteoutbox: listing dead letters: %w", err)
		}
		if d.ID, err = uuid.Parse(id); err != nil {
			return nil, fmt.Errorf("sqliteoutbox: dead letter %d has a bad ID: %w", d.Position, err)
		}
		if d.Headers, err = decodeHeaders(headers); err != nil {
			return nil, err
		}
		d.CreatedAt, d.DeadAt = time.Unix(0, created), time.Unix(0, deadAt)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteoutbox: listing dead letters: %w", err)
	}
	return out, nil
}

// Replay implements outbox.Store.
func (s *Store) Replay(ctx context.Context, ids ...uuid.UUID) (int, error) {
	s.check()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqliteoutbox: replaying dead letters: %w", err)
	}
	defer tx.Rollback()
	list := idList(ids)
	res, err := tx.ExecContext(ctx, s.sql.replay, list)
	if err != nil {
		return 0, fmt.Errorf("sqliteoutbox: replaying dead letters: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.sql.discard, list); err != nil {
		return 0, fmt.Errorf("sqliteoutbox: replaying dead letters: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqliteoutbox: replaying dead letters: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Discard implements outbox.Store.
func (s *Store) Discard(ctx context.Context, ids ...uuid.UUID) (int, error) {
	s.check()
	res, err := s.db.ExecContext(ctx, s.sql.discard, idList(ids))
	if err != nil {
		return 0, fmt.Errorf("sqliteoutbox: discarding dead letters: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Cleanup implements outbox.Store.
func (s *Store) Cleanup(ctx context.Context, publishedBefore time.Time) (int, error) {
	s.check()
	res, err := s.db.ExecContext(ctx, s.sql.cleanup, publishedBefore.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqliteoutbox: deleting published messages: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func idList(ids []uuid.UUID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	j, _ := json.Marshal(s)
	return string(j)
}
