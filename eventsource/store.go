package eventsource

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Store is the driver interface of an event store. The memory store here and
// the PostgreSQL and SQLite stores in bulwark's adapters implement it; every
// driver passes the conformance suite in eventsourcetest, which specifies
// the behaviour below. The SQL drivers also offer AppendTx, which appends in
// the caller's transaction (pgx.Tx, *sql.Tx), so events and outbox messages
// commit together.
type Store interface {
	// Append adds events, in order, to the end of the stream, atomically:
	// all of them or none.
	//
	// expected is the stream version the caller last saw (NoStream, 0, for
	// a stream without events) or Any. When the stream is at another
	// version, Append stores nothing and returns a *VersionConflictError
	// (errors.Is ErrVersionConflict) with the actual version.
	//
	// When the events are already stored, with the same IDs in the same
	// order at the versions expected agrees with (a retry after a timeout
	// or lost connection whose first attempt did commit), Append stores
	// nothing and returns the result of the first attempt: appends are
	// idempotent. Any other reuse of a stored event ID fails with
	// ErrDuplicateEvent.
	//
	// Invalid arguments (see CheckAppend) fail with ErrInvalid.
	Append(ctx context.Context, streamID string, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// ReadStream yields the events of a stream in version order, starting at
	// version from (1 or less for the whole stream), as of one consistent
	// view of the store. It streams: events are fetched as the loop asks
	// for them, not loaded all at once, and breaking out of the loop
	// releases what the read holds. An unknown stream yields nothing. A
	// failure is yielded once, as the error of the last pair.
	ReadStream(ctx context.Context, streamID string, from int64) iter.Seq2[Event, error]

	// ReadAll returns up to limit events of the global log in position
	// order, starting at position from: 1 (or less) for the start, or the
	// position of an event a read returned, or one more than it (a
	// checkpoint). Positions increase with each append but may skip
	// values. Events are returned only once every event with a smaller
	// position is committed and readable, or known never to be: a reader
	// that continues after the last position it got never skips an event
	// that committed late. A page shorter than limit may end before the
	// head of the log, at an append still in flight.
	ReadAll(ctx context.Context, from int64, limit int) ([]Event, error)
}

// Listener is implemented by stores that can tell readers at once that new
// events were committed (PostgreSQL's LISTEN/NOTIFY; the memory and SQLite
// stores for appends made through them). Subscription uses it to follow the
// log live; without it, or between its calls, Subscription polls.
type Listener interface {
	// Listen calls wake once it is listening (commits before that may have
	// been missed), then after commits of new events (several commits may
	// share one call; a call may come without a commit), until ctx is done
	// or the notification channel fails. It returns ctx.Err() or the
	// failure. wake must not block.
	Listen(ctx context.Context, wake func()) error
}

// HeadReader is implemented by stores that can tell how far the global log
// reaches (the memory, PostgreSQL and SQLite stores): a reader's lag is the
// head's position minus the last position it handled.
type HeadReader interface {
	// HeadPosition returns the greatest global position of a committed
	// event, 0 for an empty log. Events with smaller positions may still
	// be in flight (ReadAll does not pass them until they end).
	HeadPosition(ctx context.Context) (int64, error)
}

// Snapshot is an aggregate's state as of one version of its stream, saved so
// that loading it need not replay every event from the start.
type Snapshot struct {
	// StreamID is the aggregate's stream.
	StreamID string
	// StreamVersion is the version of the last event the state includes.
	StreamVersion int64
	// EventID is the ID of that event. Loading checks that the stream
	// still has this event at StreamVersion, so a snapshot that does not
	// belong to the stored history is never used.
	EventID uuid.UUID
	// SchemaVersion is the version of the shape of Data; a snapshot of
	// another version than the repository's is ignored.
	SchemaVersion int
	// Data is the encoded state.
	Data []byte
	// RecordedAt is when the snapshot was saved.
	RecordedAt time.Time
}

// SnapshotStore keeps the latest snapshot of each stream. The memory,
// PostgreSQL and SQLite stores implement it next to Store.
type SnapshotStore interface {
	// SaveSnapshot stores s as its stream's snapshot, unless the stored one
	// has the same schema version and a greater stream version (so a slow
	// writer never replaces a newer snapshot with an older one).
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LoadSnapshot returns the stream's snapshot, or false when it has none.
	LoadSnapshot(ctx context.Context, streamID string) (Snapshot, bool, error)
}

// Limits on names, the same in every driver.
const (
	MaxStreamIDLen = 1000 // bytes
	MaxTypeLen     = 200  // bytes
)

// CheckAppend reports whether the arguments of Store.Append are valid, with
// an error wrapping ErrInvalid that says what is wrong. Drivers call it
// first, so that every store accepts exactly the same appends:
//
//   - the stream ID is not empty, at most MaxStreamIDLen bytes of UTF-8
//     without NUL;
//   - expected is Any, NoStream or a version (>= 0);
//   - there is at least one event; each has a non-zero ID not repeated in
//     the batch, a type name (at most MaxTypeLen bytes of UTF-8 without
//     NUL), a schema version of at least 1, and metadata of UTF-8 without
//     NUL.
func CheckAppend(streamID string, expected ExpectedVersion, events []EventData) error {
	if err := checkStreamID(streamID); err != nil {
		return err
	}
	if expected < Any {
		return invalidf("expected version %d: use eventsource.Any, eventsource.NoStream or a version >= 0", int64(expected))
	}
	if len(events) == 0 {
		return invalidf("append to stream %q has no events", streamID)
	}
	for i, e := range events {
		if e.ID == uuid.Nil {
			return invalidf("event %d of the append has the zero ID", i)
		}
		for _, prev := range events[:i] {
			if prev.ID == e.ID {
				return invalidf("event %d of the append repeats ID %s", i, e.ID)
			}
		}
		if err := checkText("event type", e.Type, MaxTypeLen); err != nil {
			return invalidf("event %d: %v", i, err)
		}
		if e.SchemaVersion < 1 {
			return invalidf("event %d (%s) has schema version %d; versions start at 1", i, e.Type, e.SchemaVersion)
		}
		if err := checkMetadata(e.Metadata); err != nil {
			return invalidf("event %d (%s): %v", i, e.Type, err)
		}
	}
	return nil
}

// CheckSnapshot reports whether s can be saved, with an error wrapping
// ErrInvalid: a valid stream ID, a stream version of at least 1 and a
// non-zero event ID.
func CheckSnapshot(s Snapshot) error {
	if err := checkStreamID(s.StreamID); err != nil {
		return err
	}
	if s.StreamVersion < 1 {
		return invalidf("snapshot of stream %q has version %d; versions start at 1", s.StreamID, s.StreamVersion)
	}
	if s.EventID == uuid.Nil {
		return invalidf("snapshot of stream %q has the zero event ID", s.StreamID)
	}
	return nil
}

func checkStreamID(id string) error {
	if err := checkText("stream ID", id, MaxStreamIDLen); err != nil {
		return invalidf("%v", err)
	}
	return nil
}

func checkText(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%s is empty", what)
	case len(s) > max:
		return fmt.Errorf("%s is %d bytes long; at most %d", what, len(s), max)
	}
	return checkValue(what, s)
}

func checkValue(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q contains a NUL byte", what, s)
	}
	return nil
}

func checkMetadata(md Metadata) error {
	if err := checkValue("correlation ID", md.CorrelationID); err != nil {
		return err
	}
	if err := checkValue("causation ID", md.CausationID); err != nil {
		return err
	}
	for k, v := range md.Headers {
		if err := checkValue("header name", k); err != nil {
			return err
		}
		if err := checkValue("header "+k, v); err != nil {
			return err
		}
	}
	return nil
}
