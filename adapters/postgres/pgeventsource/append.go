package pgeventsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier runs the append statement: the pool, or a caller's transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Append implements eventsource.Store.Append in a transaction of its own:
// one statement, one round trip.
func (s *Store) Append(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	return s.append(ctx, s.pool, streamID, expected, events)
}

// AppendTx is Append in the caller's transaction: the events are stored,
// announced and given their global positions when tx commits, and vanish
// if it rolls back. From this call until tx ends, other appends to the
// store wait (see the package documentation). A version conflict or a
// duplicate ID is reported without aborting tx.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	return s.append(ctx, tx, streamID, expected, events)
}

const (
	statusAppended = iota
	statusRepeated
	statusConflict
	statusDuplicate
)

func (s *Store) append(ctx context.Context, q querier, streamID string, expected eventsource.ExpectedVersion, events []eventsource.EventData) (eventsource.AppendResult, error) {
	if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
		return eventsource.AppendResult{}, err
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
				return eventsource.AppendResult{}, fmt.Errorf("pgeventsource: encoding headers: %w", err)
			}
			headers[i] = h
		}
	}
	var (
		status    int32
		version   int64
		position  int64
		duplicate *[16]byte
	)
	err := q.QueryRow(ctx, s.sql.append, streamID, int64(expected), ids, types, schemas, data,
		correlations, causations, headers, s.clock.Now().UTC()).Scan(&status, &version, &position, &duplicate)
	if err != nil {
		return eventsource.AppendResult{}, appendError(streamID, err)
	}
	switch status {
	case statusAppended, statusRepeated:
		return eventsource.AppendResult{StreamVersion: version, GlobalPosition: position}, nil
	case statusConflict:
		return eventsource.AppendResult{}, &eventsource.VersionConflictError{StreamID: streamID, Expected: expected, Actual: version}
	case statusDuplicate:
		return eventsource.AppendResult{}, fmt.Errorf("%w: event %s is already stored", eventsource.ErrDuplicateEvent, uuid.UUID(*duplicate))
	}
	return eventsource.AppendResult{}, fmt.Errorf("pgeventsource: appending to %q: the append function returned status %d; run Migrate", streamID, status)
}

// appendError wraps a failed append, recognising an event ID inserted
// concurrently by another stream's append.
func appendError(streamID string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && strings.HasSuffix(pgErr.ConstraintName, "_event_id_key") {
		return fmt.Errorf("%w: %s", eventsource.ErrDuplicateEvent, pgErr.Detail)
	}
	return fmt.Errorf("pgeventsource: appending to %q: %w", streamID, err)
}
