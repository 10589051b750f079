package pgeventsource

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/jackc/pgx/v5"
)

// ReadStream implements eventsource.Store.ReadStream with one query whose
// rows are fetched as the loop runs; the query holds a pool connection until
// the loop ends.
func (s *Store) ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[eventsource.Event, error] {
	s.check()
	return func(yield func(eventsource.Event, error) bool) {
		rows, err := s.pool.Query(ctx, s.sql.readStream, streamID, max(from, 1))
		if err != nil {
			yield(eventsource.Event{}, fmt.Errorf("pgeventsource: reading stream %q: %w", streamID, err))
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
			yield(eventsource.Event{}, fmt.Errorf("pgeventsource: reading stream %q: %w", streamID, err))
		}
	}
}

// ReadAll implements eventsource.Store.ReadAll. Pass 1, or one more than a
// position an earlier read returned: positions below from are taken as
// settled.
//
// When the page has positions missing below committed ones, ReadAll probes
// the appends that may hold them (see the package documentation), cuts the
// page before the first one still in flight, and reads the rest again: a
// missing position whose append had ended by the probe is then either
// there or rolled back for good.
func (s *Store) ReadAll(ctx context.Context, from int64, limit int) ([]eventsource.Event, error) {
	s.check()
	if limit < 1 {
		return nil, fmt.Errorf("%w: ReadAll limit %d; at least 1", eventsource.ErrInvalid, limit)
	}
	from = max(from, 1)
	page, err := s.query(ctx, s.sql.readAll, from, int64(limit))
	if err != nil {
		return nil, fmt.Errorf("pgeventsource: reading the log from %d: %w", from, err)
	}
	var missing []int64
	next := from
	for _, e := range page {
		for p := next; p < e.GlobalPosition; p++ {
			missing = append(missing, p)
		}
		next = e.GlobalPosition + 1
	}
	if len(missing) == 0 {
		return page, nil
	}
	var inFlight []int64
	if err := s.pool.QueryRow(ctx, s.sql.probe, missing).Scan(&inFlight); err != nil {
		return nil, fmt.Errorf("pgeventsource: reading the log from %d: %w", from, err)
	}
	end := next // one past the page's last position
	if len(inFlight) > 0 {
		end = inFlight[0]
	}
	if end == from {
		return nil, nil
	}
	settled, err := s.query(ctx, s.sql.readRange, from, end)
	if err != nil {
		return nil, fmt.Errorf("pgeventsource: reading the log from %d: %w", from, err)
	}
	if len(settled) > limit { // positions that were missing have come in
		settled = settled[:limit]
	}
	return settled, nil
}

// HeadPosition implements eventsource.HeadReader.HeadPosition with one
// look at the end of the events table's primary key.
func (s *Store) HeadPosition(ctx context.Context) (int64, error) {
	s.check()
	var p int64
	if err := s.pool.QueryRow(ctx, s.sql.head).Scan(&p); err != nil {
		return 0, fmt.Errorf("pgeventsource: reading the head of the log: %w", err)
	}
	return p, nil
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]eventsource.Event, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []eventsource.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// scanEvent reads a row of {{columns}}. A stored header value that is not a
// JSON object of strings is reported as an *eventsource.DecodeError.
func scanEvent(rows pgx.Rows) (eventsource.Event, error) {
	var (
		e          eventsource.Event
		headers    []byte
		recordedAt time.Time
	)
	if err := rows.Scan(&e.GlobalPosition, &e.StreamID, &e.StreamVersion, &e.ID, &e.Type, &e.SchemaVersion, &e.Data,
		&e.Metadata.CorrelationID, &e.Metadata.CausationID, &headers, &recordedAt); err != nil {
		return eventsource.Event{}, fmt.Errorf("pgeventsource: reading an event: %w", err)
	}
	e.RecordedAt = recordedAt.UTC()
	if len(headers) > 0 {
		if err := json.Unmarshal(headers, &e.Metadata.Headers); err != nil {
			return eventsource.Event{}, &eventsource.DecodeError{StreamID: e.StreamID, StreamVersion: e.StreamVersion, Type: e.Type, SchemaVersion: e.SchemaVersion,
				Err: fmt.Errorf("headers: %w", err)}
		}
		if len(e.Metadata.Headers) == 0 {
			e.Metadata.Headers = nil
		}
	}
	return e, nil
}
