package sqliteoutbox

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
)

// maxRowsPerInsert keeps an INSERT's parameters (6 per message) under
// SQLite's default limit of 32766.
const maxRowsPerInsert = 1000

// Enqueue writes msgs into the outbox in the caller's transaction, in
// order; the relay publishes them once tx commits, and never if it rolls
// back. Zero IDs, empty keys and zero CreatedAt are filled in msgs (see
// outbox.Prepare).
func (s *Store) Enqueue(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error {
	s.check()
	if len(msgs) == 0 {
		return nil
	}
	if err := outbox.Prepare(msgs, time.Now()); err != nil {
		return err
	}
	for chunk := range slices.Chunk(msgs, maxRowsPerInsert) {
		var b strings.Builder
		b.WriteString(s.sql.insertPrefix)
		args := make([]any, 0, 6*len(chunk))
		for i, m := range chunk {
			headers, err := encodeHeaders(m.Headers)
			if err != nil {
				return err
			}
			payload := m.Payload
			if payload == nil {
				payload = []byte{}
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, m.ID.String(), m.Topic, m.Key, payload, headers, m.CreatedAt.UnixNano())
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("sqliteoutbox: enqueueing %d messages: %w", len(msgs), err)
		}
	}
	return nil
}

// encodeHeaders stores headers with outbox.EncodeHeaders as JSON text, or
// NULL for none.
func encodeHeaders(h map[string]string) (any, error) {
	j, err := outbox.EncodeHeaders(h)
	if err != nil || j == nil {
		return nil, err
	}
	return string(j), nil
}

// decodeHeaders reads what encodeHeaders stored: NULL (nil) or
// outbox.EncodeHeaders's JSON. Anything else is an error, never a panic.
func decodeHeaders(stored sql.NullString) (map[string]string, error) {
	if !stored.Valid {
		return nil, nil
	}
	return outbox.DecodeHeaders([]byte(stored.String))
}
