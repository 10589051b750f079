package pgeventsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglock"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// appendOneSQL is the statement by which Append stores one event at a known
// version, in a transaction of its own ($1 stream, $2 expected version,
// $3..$10 the event's columns): the append function's steps for that case
// in one plain INSERT, without the PL/pgSQL call. It inserts only when the
// stream is at the expected version as its snapshot shows it (checked
// first, so that nothing is locked or taken otherwise); a version or event
// ID stored since (by another append, or by an earlier attempt of this
// one) fails the insert on a unique index. Then, as the function does: the
// stream's lock; the position window, shared; the position; its in-flight
// mark; the window released; the insert. The subqueries, each fenced by
// OFFSET 0, make PostgreSQL evaluate them in that order, innermost first,
// each one's filter before its outputs, and keep their volatile outputs
// though nothing reads them.
//
// The window is a session lock, released by the statement itself. If the
// statement fails between taking and releasing it (cancelled, say, while
// it waits for the mark), the function's subtransaction would release it;
// here appendOne does (see releaseWindow).
const appendOneSQL = `INSERT INTO {{events}} ({{columns}})
SELECT released.p, $1, $2 + 1, $3, $4, $5, $6, $7, $8, $9, $10
FROM (SELECT marked.p, pg_advisory_unlock_shared({{window_lock}}) AS released
	FROM (SELECT taken.p, pg_advisory_xact_lock({{inflight_p}}) AS marked
		FROM (SELECT nextval('{{sequence}}') AS p
			FROM (SELECT pg_advisory_lock_shared({{window_lock}}) AS opened
				FROM (SELECT pg_advisory_xact_lock({{stream_lock}}) AS locked
					WHERE (SELECT coalesce(max(e.stream_version), 0) FROM {{events}} e WHERE e.stream_id = $1) = $2
					OFFSET 0) AS stream
				OFFSET 0) AS opened
			OFFSET 0) AS taken
		OFFSET 0) AS marked
	OFFSET 0) AS released
RETURNING position`

// releaseWindowSQL releases the position window if the session holds it,
// as it may after appendOneSQL failed. Appends take the window only as a
// session lock, released before they return, so a shared lock on it that
// the session holds then is the one the statement left.
const releaseWindowSQL = `SELECT count(pg_advisory_unlock_shared({{window_lock}})) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ShareLock'
	AND classid = {{sequence_oid}} AND objid = 0 AND objsubid = 2`

// appendOne returns appendOneSQL and releaseWindowSQL for the schema sc.
func (sc schema) appendOne(columns string) (appendOne, releaseWindow string) {
	events, sequence := sqlident.Quote(sc.cfg.EventsTable), sqlident.Quote(sc.qualified(sc.sequence))
	// The lock expressions name the append function's variables; here
	// they are the statement's parameter and the two oids (names are
	// letters, digits and underscores: no quote to escape).
	sequenceOID := "'" + sequence + "'::regclass::oid::integer"
	bind := strings.NewReplacer(
		"p_stream", "$1::text",
		"events_oid", "'"+events+"'::regclass::oid::integer",
		"sequence_oid", sequenceOID,
	)
	r := strings.NewReplacer(
		"{{events}}", events,
		"{{columns}}", columns,
		"{{sequence}}", sequence,
		"{{sequence_oid}}", "'"+sequence+"'::regclass::oid",
		"{{inflight_p}}", bind.Replace(pglock.InFlight(sqlident.Quote(sc.qualified(sc.inflight)), "taken.p")),
		"{{window_lock}}", bind.Replace(pglock.PositionWindow),
		"{{stream_lock}}", bind.Replace(pglock.EventStream),
	)
	return r.Replace(appendOneSQL), r.Replace(releaseWindowSQL)
}

// appendOne stores one event at version expected+1 by appendOneSQL and
// reports whether it did. It did not when the stream is not at expected, or
// the version or the event ID was stored since its snapshot: a conflict, a
// repeat of this append or a reused ID, which the append function then
// tells apart.
func (s *Store) appendOne(ctx context.Context, streamID string, expected eventsource.ExpectedVersion, e eventsource.EventData) (eventsource.AppendResult, bool, error) {
	var headers []byte
	if len(e.Metadata.Headers) > 0 {
		h, err := json.Marshal(e.Metadata.Headers)
		if err != nil {
			return eventsource.AppendResult{}, false, fmt.Errorf("pgeventsource: encoding headers: %w", err)
		}
		headers = h
	}
	data := e.Data
	if data == nil {
		data = []byte{}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return eventsource.AppendResult{}, false, appendError(streamID, err)
	}
	defer conn.Release()
	var position int64
	err = conn.QueryRow(ctx, s.sql.appendOne, streamID, int64(expected), e.ID, e.Type, int32(e.SchemaVersion), data,
		e.Metadata.CorrelationID, e.Metadata.CausationID, headers, s.clock.Now().UTC()).Scan(&position)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return eventsource.AppendResult{StreamVersion: int64(expected) + 1, GlobalPosition: position}, true, nil
	case errors.Is(err, pgx.ErrNoRows): // the filter, before any lock
		return eventsource.AppendResult{}, false, nil
	case errors.As(err, &pgErr) && pgErr.Code == "23505": // the insert, after the window
		// The version or the event ID, stored since the snapshot: by
		// another append (a conflict), or by this one's earlier attempt
		// (a repeat), or the ID is reused (a duplicate).
		return eventsource.AppendResult{}, false, nil
	}
	s.releaseWindow(conn.Conn())
	return eventsource.AppendResult{}, false, appendError(streamID, err)
}

// releaseWindow releases the position window that a failed appendOneSQL
// may have left held on conn's session, where it would hold back every
// probe and multi-event append; if it cannot, it closes conn, which ends
// the session and so releases the lock.
func (s *Store) releaseWindow(conn *pgx.Conn) {
	if conn.IsClosed() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, s.sql.releaseWindow); err != nil {
		_ = conn.Close(ctx)
	}
}

// releaseTimeout bounds releaseWindow's statement.
const releaseTimeout = 5 * time.Second
