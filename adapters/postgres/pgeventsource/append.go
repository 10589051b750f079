package pgeventsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Append implements eventsource.Store.Append in a transaction of its own:
// one statement. One event at a known version is stored by a plain insert
// (see appendOneSQL); when that stores nothing (a conflict, a repeat, a
// lost race) and for other appends the append function runs. When it
// stored events, it has them announced to listeners (see announcer)
// without waiting.
func (s *Store) Append(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	s.check()
	if len(events) == 1 && expected >= 0 {
		if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
			return eventsource.AppendResult{}, err
		}
		res, stored, err := s.appendOne(ctx, streamID, expected, events[0])
		if stored {
			s.announcer.announce(s)
		}
		if stored || err != nil {
			return res, err
		}
	}
	args, err := s.arguments(streamID, expected, events, false)
	if err != nil {
		return eventsource.AppendResult{}, err
	}
	res, stored, err := s.append(ctx, s.pool, streamID, expected, args)
	if stored {
		s.announcer.announce(s)
	}
	return res, err
}

// AppendTx is Append in the caller's transaction: the events are stored,
// and announced, when tx commits, and vanish if it rolls back. Other
// appends go on meanwhile; readers of the global log wait at the events'
// positions until tx ends (see the package documentation). A version
// conflict is reported without aborting tx; a duplicate event ID aborts it.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	s.check()
	args, err := s.arguments(streamID, expected, events, true)
	if err != nil {
		return eventsource.AppendResult{}, err
	}
	res, _, err := s.append(ctx, tx, streamID, expected, args)
	return res, err
}

// arguments checks an append and encodes the append function's arguments.
func (s *Store) arguments(streamID string, expected eventsource.ExpectedVersion, events []eventsource.EventData, notify bool) ([]any, error) {
	if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
		return nil, err
	}
	n := len(events)
	ids := make([][16]byte, n)
	types := make([]string, n)
	schemas := make([]int32, n)
	data := make([][]byte, n)
	correlations := make([]string, n)
	causations := make([]string, n)
	headers := make([][]byte, n)
	for i, e := range events {
		ids[i], types[i], schemas[i] = e.ID, e.Type, int32(e.SchemaVersion)
		data[i] = e.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		correlations[i], causations[i] = e.Metadata.CorrelationID, e.Metadata.CausationID
		if len(e.Metadata.Headers) > 0 {
			h, err := json.Marshal(e.Metadata.Headers)
			if err != nil {
				return nil, fmt.Errorf("pgeventsource: encoding headers: %w", err)
			}
			headers[i] = h
		}
	}
	return []any{streamID, int64(expected), ids, types, schemas, data, correlations, causations, headers, s.clock.Now().UTC(), notify}, nil
}

const (
	statusAppended = iota
	statusRepeated
	statusConflict
)

// querier runs statements: the pool, or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// append runs the append function and reports whether it stored events.
func (s *Store) append(ctx context.Context, q querier, streamID string, expected eventsource.ExpectedVersion, args []any) (eventsource.AppendResult, bool, error) {
	var (
		status   int32
		version  int64
		position int64
	)
	if err := q.QueryRow(ctx, s.sql.append, args...).Scan(&status, &version, &position); err != nil {
		return eventsource.AppendResult{}, false, appendError(streamID, err)
	}
	switch status {
	case statusAppended, statusRepeated:
		return eventsource.AppendResult{StreamVersion: version, GlobalPosition: position}, status == statusAppended, nil
	case statusConflict:
		return eventsource.AppendResult{}, false, &eventsource.VersionConflictError{StreamID: streamID, Expected: expected, Actual: version}
	}
	return eventsource.AppendResult{}, false, fmt.Errorf("pgeventsource: appending to %q: the append function returned status %d; run Migrate", streamID, status)
}

// appendError wraps a failed append, recognising a reused event ID.
func appendError(streamID string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && strings.HasSuffix(pgErr.ConstraintName, "_event_id_key") {
		return fmt.Errorf("%w: %s", eventsource.ErrDuplicateEvent, pgErr.Detail)
	}
	return fmt.Errorf("pgeventsource: appending to %q: %w", streamID, err)
}
