package sqliteeventsource

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
)

// ReadStream implements eventsource.Store.ReadStream with one query whose
// rows are stepped through as the loop runs (in one read transaction: one
// consistent view); it holds a connection until the loop ends.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventsource.Event, error] {
	s.check()
	return func(yield func(eventsource.Event, error) bool) {
		rows, err := s.db.QueryContext(ctx, s.sql.readStream, streamID, max(from, 1))
		if err != nil {
			yield(eventsource.Event{}, fmt.Errorf("sqliteeventsource: reading stream %q: %w", streamID, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				yield(eventsource.Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(eventsource.Event{}, fmt.Errorf("sqliteeventsource: reading stream %q: %w", streamID, err))
		}
	}
}

// ReadAll implements eventsource.Store.ReadAll.
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventsource.Event, error) {
	s.check()
	if limit < 1 {
		return nil, fmt.Errorf("%w: ReadAll limit %d; at least 1", eventsource.ErrInvalid, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.sql.readAll, max(from, 1), limit)
	if err != nil {
		return nil, fmt.Errorf("sqliteeventsource: reading the log from %d: %w", from, err)
	}
	defer rows.Close()
	out := make([]eventsource.Event, 0, min(limit, 256))
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqliteeventsource: reading the log from %d: %w", from, err)
	}
	return out, nil
}

// HeadPosition implements eventsource.HeadReader.HeadPosition.
func (s *Store) HeadPosition(ctx context.Context) (int64, error) {
	s.check()
	var p int64
	if err := s.db.QueryRowContext(ctx, s.sql.lastPosition).Scan(&p); err != nil {
		return 0, fmt.Errorf("sqliteeventsource: reading the head of the log: %w", err)
	}
	return p, nil
}

// storedRow is an events row as SQLite returns it.
type storedRow struct {
	position, version, recordedAt int64
	streamID, typ                 string
	schemaVersion                 int
	eventID, data                 []byte
	correlation, causation        string
	headers                       sql.NullString
}

func scanEvent(rows *sql.Rows) (eventsource.Event, error) {
	var r storedRow
	if err := rows.Scan(&r.position, &r.streamID, &r.version, &r.eventID, &r.typ, &r.schemaVersion, &r.data,
		&r.correlation, &r.causation, &r.headers, &r.recordedAt); err != nil {
		return eventsource.Event{}, fmt.Errorf("sqliteeventsource: reading an event: %w", err)
	}
	return r.event()
}

// event decodes the row; a malformed event ID or header column is an
// *eventsource.DecodeError naming the event.
func (r storedRow) event() (eventsource.Event, error) {
	e := eventsource.Event{
		StreamID:       r.streamID,
		StreamVersion:  r.version,
		GlobalPosition: r.position,
		Type:           r.typ,
		SchemaVersion:  r.schemaVersion,
		Data:           r.data,
		Metadata:       eventsource.Metadata{CorrelationID: r.correlation, CausationID: r.causation},
		RecordedAt:     time.UnixMicro(r.recordedAt).UTC(),
	}
	bad := func(err error) (eventsource.Event, error) {
		return eventsource.Event{}, &eventsource.DecodeError{StreamID: e.StreamID, StreamVersion: e.StreamVersion, Type: e.Type, SchemaVersion: e.SchemaVersion, Err: err}
	}
	id, err := uuid.FromBytes(r.eventID)
	if err != nil {
		return bad(fmt.Errorf("event ID: %w", err))
	}
	e.ID = id
	if r.headers.Valid {
		if err := json.Unmarshal([]byte(r.headers.String), &e.Metadata.Headers); err != nil {
			return bad(fmt.Errorf("headers: %w", err))
		}
		if len(e.Metadata.Headers) == 0 {
			e.Metadata.Headers = nil
		}
	}
	return e, nil
}
