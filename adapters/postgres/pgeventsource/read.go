package pgeventsource

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
)

// ReadStream implements eventsource.Store.ReadStream with one query whose
// rows are fetched as the loop runs; the query holds a pool connection until
// the loop ends.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventsource.Event, error] {
	return func(yield func(eventsource.Event, error) bool) {
		rows, err := s.pool.Query(ctx, s.sql.readStream, streamID, max(from, 1))
		if err != nil {
			yield(eventsource.Event{}, fmt.Errorf("pgeventsource: reading stream %q: %w", streamID, err))
			return
		}
		defer rows.Close()
		// offset is position - version within the current append: each
		// append's first event carries its own (commitOffset), and the
		// first row read gets the one of the append it belongs to.
		var offset int64
		for first := true; rows.Next(); first = false {
			var (
				e            = eventsource.Event{StreamID: streamID}
				row          storedRow
				commitOffset *int64
				startOffset  *int64
			)
			if err := rows.Scan(&e.StreamVersion, &e.ID, &e.Type, &e.SchemaVersion, &e.Data,
				&row.correlation, &row.causation, &row.headers, &row.recordedAt, &commitOffset, &startOffset); err != nil {
				yield(eventsource.Event{}, fmt.Errorf("pgeventsource: reading stream %q: %w", streamID, err))
				return
			}
			switch {
			case commitOffset != nil:
				offset = *commitOffset
			case first && startOffset != nil:
				offset = *startOffset
			case first:
				yield(eventsource.Event{}, fmt.Errorf("pgeventsource: reading stream %q: no log row holds version %d", streamID, e.StreamVersion))
				return
			}
			e.GlobalPosition = offset + e.StreamVersion
			if err := row.fill(&e); err != nil {
				yield(eventsource.Event{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(eventsource.Event{}, fmt.Errorf("pgeventsource: reading stream %q: %w", streamID, err))
		}
	}
}

// ReadAll implements eventsource.Store.ReadAll.
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventsource.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: ReadAll limit %d; at least 1", eventsource.ErrInvalid, limit)
	}
	rows, err := s.pool.Query(ctx, s.sql.readAll, max(from, 1), int64(limit))
	if err != nil {
		return nil, fmt.Errorf("pgeventsource: reading the log from %d: %w", from, err)
	}
	defer rows.Close()
	out := make([]eventsource.Event, 0, min(limit, 256))
	for rows.Next() {
		var (
			e   eventsource.Event
			row storedRow
		)
		if err := rows.Scan(&e.GlobalPosition, &e.StreamID, &e.StreamVersion, &e.ID, &e.Type, &e.SchemaVersion, &e.Data,
			&row.correlation, &row.causation, &row.headers, &row.recordedAt); err != nil {
			return nil, fmt.Errorf("pgeventsource: reading the log from %d: %w", from, err)
		}
		if err := row.fill(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgeventsource: reading the log from %d: %w", from, err)
	}
	return out, nil
}

// storedRow holds the columns that need decoding into an Event.
type storedRow struct {
	correlation, causation string
	headers                []byte
	recordedAt             time.Time
}

// fill completes e from the row; a stored header value that is not a JSON
// object of strings is reported as an *eventsource.DecodeError.
func (r storedRow) fill(e *eventsource.Event) error {
	e.Metadata.CorrelationID, e.Metadata.CausationID = r.correlation, r.causation
	e.RecordedAt = r.recordedAt.UTC()
	if len(r.headers) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.headers, &e.Metadata.Headers); err != nil {
		return &eventsource.DecodeError{StreamID: e.StreamID, StreamVersion: e.StreamVersion, Type: e.Type, SchemaVersion: e.SchemaVersion,
			Err: fmt.Errorf("headers: %w", err)}
	}
	if len(e.Metadata.Headers) == 0 {
		e.Metadata.Headers = nil
	}
	return nil
}
