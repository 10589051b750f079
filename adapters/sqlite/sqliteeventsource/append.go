package sqliteeventsource

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
)

// maxIDsPerQuery keeps the duplicate check's parameters well under SQLite's
// limit.
const maxIDsPerQuery = 500

// Append implements eventsource.Store.Append in a transaction of its own,
// then wakes this Store's listeners.
func (s *Store) Append(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	s.check()
	if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
		return eventsource.AppendResult{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return eventsource.AppendResult{}, fmt.Errorf("sqliteeventsource: appending to %q: %w", streamID, err)
	}
	defer tx.Rollback()
	res, stored, err := s.append(ctx, tx, streamID, expected, events)
	if err != nil {
		return eventsource.AppendResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return eventsource.AppendResult{}, fmt.Errorf("sqliteeventsource: appending to %q: %w", streamID, err)
	}
	if stored {
		s.notify()
	}
	return res, nil
}

// AppendTx is Append in the caller's transaction (begun on a database opened
// with sqlite.Open): the events are stored when tx commits, and vanish if it
// rolls back. A version conflict or a duplicate ID is reported without
// spoiling tx.
func (s *Store) AppendTx(ctx context.Context, tx *sql.Tx, streamID string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (eventsource.AppendResult, error) {
	s.check()
	if err := eventsource.CheckAppend(streamID, expected, events); err != nil {
		return eventsource.AppendResult{}, err
	}
	res, _, err := s.append(ctx, tx, streamID, expected, events)
	return res, err
}

// append runs an append inside tx, which holds the write lock from its
// first statement on, and reports whether it stored events.
func (s *Store) append(ctx context.Context, tx *sql.Tx, streamID string, expected eventsource.ExpectedVersion, events []eventsource.EventData) (eventsource.AppendResult, bool, error) {
	fail := func(err error) (eventsource.AppendResult, bool, error) {
		return eventsource.AppendResult{}, false, fmt.Errorf("sqliteeventsource: appending to %q: %w", streamID, err)
	}
	var (
		foundStream  string
		foundVersion int64
	)
	err := tx.QueryRowContext(ctx, s.sql.findEvent, events[0].ID[:]).Scan(&foundStream, &foundVersion)
	switch {
	case err == nil && foundStream == streamID && (expected == eventsource.Any || int64(expected) == foundVersion-1):
		res, ok, err := s.repeated(ctx, tx, streamID, foundVersion, events)
		if err != nil || ok {
			return res, false, err
		}
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return fail(err)
	}

	var version int64
	if err := tx.QueryRowContext(ctx, s.sql.streamVersion, streamID).Scan(&version); err != nil {
		return fail(err)
	}
	if expected != eventsource.Any && int64(expected) != version {
		return eventsource.AppendResult{}, false, &eventsource.VersionConflictError{StreamID: streamID, Expected: expected, Actual: version}
	}
	for chunk := range slices.Chunk(events, maxIDsPerQuery) {
		args := make([]any, len(chunk))
		for i, e := range chunk {
			args[i] = e.ID[:]
		}
		var dup []byte
		err := tx.QueryRowContext(ctx, s.sql.duplicates(len(chunk)), args...).Scan(&dup)
		switch {
		case err == nil:
			id, _ := uuid.FromBytes(dup)
			return eventsource.AppendResult{}, false, fmt.Errorf("%w: event %s is already stored", eventsource.ErrDuplicateEvent, id)
		case !errors.Is(err, sql.ErrNoRows):
			return fail(err)
		}
	}

	var last int64
	if err := tx.QueryRowContext(ctx, s.sql.lastPosition).Scan(&last); err != nil {
		return fail(err)
	}
	insert, err := tx.PrepareContext(ctx, s.sql.insert)
	if err != nil {
		return fail(err)
	}
	defer insert.Close()
	at := s.clock.Now().UnixMicro()
	for i, e := range events {
		var headers any
		if len(e.Metadata.Headers) > 0 {
			h, err := json.Marshal(e.Metadata.Headers)
			if err != nil {
				return fail(err)
			}
			headers = string(h)
		}
		data := e.Data
		if data == nil {
			data = []byte{}
		}
		if _, err := insert.ExecContext(ctx, last+int64(i)+1, streamID, version+int64(i)+1, e.ID[:], e.Type, e.SchemaVersion, data,
			e.Metadata.CorrelationID, e.Metadata.CausationID, headers, at); err != nil {
			return fail(err)
		}
	}
	n := int64(len(events))
	return eventsource.AppendResult{StreamVersion: version + n, GlobalPosition: last + n}, true, nil
}

// repeated reports whether events are stored in the stream from version
// first on, in order, and returns the stored append's result.
func (s *Store) repeated(ctx context.Context, tx *sql.Tx, streamID string, first int64, events []eventsource.EventData) (eventsource.AppendResult, bool, error) {
	rows, err := tx.QueryContext(ctx, s.sql.streamIDs, streamID, first, first+int64(len(events))-1)
	if err != nil {
		return eventsource.AppendResult{}, false, fmt.Errorf("sqliteeventsource: appending to %q: %w", streamID, err)
	}
	defer rows.Close()
	var (
		i        int
		position int64
	)
	for ; rows.Next(); i++ {
		var id []byte
		if err := rows.Scan(&id, &position); err != nil {
			return eventsource.AppendResult{}, false, fmt.Errorf("sqliteeventsource: appending to %q: %w", streamID, err)
		}
		if i >= len(events) || string(id) != string(events[i].ID[:]) {
			return eventsource.AppendResult{}, false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return eventsource.AppendResult{}, false, fmt.Errorf("sqliteeventsource: appending to %q: %w", streamID, err)
	}
	if i != len(events) {
		return eventsource.AppendResult{}, false, nil
	}
	return eventsource.AppendResult{StreamVersion: first + int64(i) - 1, GlobalPosition: position}, true, nil
}

// Listen implements eventsource.Listener for the appends made through this
// Store value's Append: wake is called once, then after each of them.
func (s *Store) Listen(ctx context.Context, wake func()) error {
	s.check()
	key := &wake
	s.mu.Lock()
	s.listeners[key] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, key)
		s.mu.Unlock()
	}()
	wake()
	<-ctx.Done()
	return ctx.Err()
}

func (s *Store) notify() {
	s.mu.Lock()
	wakes := make([]func(), 0, len(s.listeners))
	for w := range s.listeners {
		wakes = append(wakes, *w)
	}
	s.mu.Unlock()
	for _, w := range wakes {
		w()
	}
}
