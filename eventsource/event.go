package eventsource

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Event is an event as stored: the envelope the store adds around the data an
// appender gave it.
type Event struct {
	// ID identifies the event across the whole store. It is the appender's
	// EventData.ID, so appending it again is recognised (see Store.Append).
	ID uuid.UUID
	// StreamID names the stream the event belongs to.
	StreamID string
	// StreamVersion is the event's place in its stream: 1 for the first
	// event, then 2, 3… without gaps.
	StreamVersion int64
	// GlobalPosition is the event's place in the global log of all
	// streams, from 1: an event appended after another has a greater
	// position (values may be skipped). Store.ReadAll returns events in
	// this order and never passes one that may still commit, so a reader
	// that resumes after the last position it handled misses nothing.
	GlobalPosition int64
	// Type is the event's type name, as registered in a Registry.
	Type string
	// SchemaVersion is the version of the shape of Data, from 1. Upcasters
	// turn old versions into the current one when the event is decoded.
	SchemaVersion int
	// Data is the encoded event. Treat it as read-only.
	Data []byte
	// Metadata travels with the event: correlation, causation, headers.
	Metadata Metadata
	// RecordedAt is when the store appended the event (UTC, microsecond
	// precision in the SQL stores).
	RecordedAt time.Time
}

// EventData is an event to append: what Store.Append stores, before the
// store gives it a stream version, a global position and a recorded time.
// Registry.Encode makes one from a Go value.
type EventData struct {
	// ID identifies the event; it must not be the zero UUID. Keep the same
	// ID when retrying an append whose outcome is unknown: the store then
	// recognises the events instead of storing them twice.
	ID uuid.UUID
	// Type is the event's type name; not empty.
	Type string
	// SchemaVersion is the version of the shape of Data; at least 1.
	SchemaVersion int
	// Data is the encoded event.
	Data []byte
	// Metadata travels with the event.
	Metadata Metadata
}

// Metadata is what an event carries besides its data: where it came from.
type Metadata struct {
	// CorrelationID ties together every message and event of one business
	// flow, usually the ID of the request or command that started it.
	CorrelationID string
	// CausationID is the ID of the message or event that directly caused
	// this one.
	CausationID string
	// Headers holds anything else (tenant, user, trace context). Nil and
	// empty are stored alike and read back as nil.
	Headers map[string]string
}

// CausedBy returns the metadata for an event or command caused by e: it
// keeps e's correlation ID (or starts one with e's ID when e has none) and
// names e as the cause.
func CausedBy(e Event) Metadata {
	corr := e.Metadata.CorrelationID
	if corr == "" {
		corr = e.ID.String()
	}
	return Metadata{CorrelationID: corr, CausationID: e.ID.String()}
}

type metadataKey struct{}

// ContextWithMetadata returns a copy of ctx carrying md. Repository.Save and
// Repository.Handle stamp it on every event they append, so a command
// handler sets the correlation and causation once for all its events.
func ContextWithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFromContext returns the metadata ContextWithMetadata put in ctx,
// or the zero Metadata.
func MetadataFromContext(ctx context.Context) Metadata {
	md, _ := ctx.Value(metadataKey{}).(Metadata)
	return md
}

// ExpectedVersion is the stream version an appender expects to find: the
// version of the last event it saw, NoStream when it expects the stream to
// have no events, or Any to append whatever the version.
type ExpectedVersion int64

const (
	// Any appends without checking the stream's version.
	Any ExpectedVersion = -1
	// NoStream appends only if the stream has no events yet. It is version
	// 0: a stream without events is at version 0.
	NoStream ExpectedVersion = 0
)

// AppendResult tells where an append put its events.
type AppendResult struct {
	// StreamVersion is the version of the last event appended: the stream's
	// version after the append, to pass as the expected version next time.
	StreamVersion int64
	// GlobalPosition is the global position of the last event appended.
	GlobalPosition int64
}
