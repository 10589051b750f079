package eventsource

import (
	"errors"
	"fmt"

	"github.com/google/uuid"
)

var (
	// ErrVersionConflict means the stream was not at the version the
	// appender expected: another writer appended first. Nothing was stored.
	// The error is a *VersionConflictError carrying the actual version.
	ErrVersionConflict = errors.New("eventsource: version conflict")

	// ErrDuplicateEvent means an event ID of the append is already stored,
	// and the append is not a repeat of the append that stored it (same
	// stream, same events in the same order, a compatible expected version).
	// Nothing was stored.
	ErrDuplicateEvent = errors.New("eventsource: duplicate event ID")

	// ErrInvalid means a call's arguments were wrong (an empty stream ID, a
	// zero event ID…); the error says which. Nothing was stored.
	ErrInvalid = errors.New("eventsource: invalid argument")

	// ErrUnknownEventType means a Registry has no Go type for a stored
	// event's type name and schema version, nor an upcaster from it.
	ErrUnknownEventType = errors.New("eventsource: unknown event type")
)

// VersionConflictError is the error of an append whose expected version did
// not match. errors.Is(err, ErrVersionConflict) reports it.
type VersionConflictError struct {
	StreamID string
	Expected ExpectedVersion
	// Actual is the stream's version when the append was refused (0 for a
	// stream without events).
	Actual int64
}

func (e *VersionConflictError) Error() string {
	want := fmt.Sprint(int64(e.Expected))
	if e.Expected == NoStream {
		want = "no stream (0)"
	}
	return fmt.Sprintf("eventsource: version conflict on stream %q: expected version %s, stream is at %d", e.StreamID, want, e.Actual)
}

// Is makes errors.Is(err, ErrVersionConflict) true.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionConflict }

// DecodeError is the error of decoding a stored event: it names the event so
// that a bad record can be found, and wraps the cause.
type DecodeError struct {
	StreamID      string
	StreamVersion int64
	Type          string
	SchemaVersion int
	Err           error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("eventsource: decoding event %d of stream %q (type %q, schema version %d): %v",
		e.StreamVersion, e.StreamID, e.Type, e.SchemaVersion, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// duplicateError is the error of an append that reuses the stored ID id.
func duplicateError(id uuid.UUID) error {
	return fmt.Errorf("%w: event %s is already stored", ErrDuplicateEvent, id)
}

// invalidf returns an error wrapping ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
