package cqrs

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/eventsource"
)

// The events a Projector reports to Config.Observer (see bulwark.Observer).
// Each is reported synchronously on the goroutine running the projection,
// with the context of Run (so a slow Observe slows that projection), and
// never while the projector holds a lock: Observe may call the projector's
// methods.

// Applied is reported after each committed batch of a projection.
type Applied struct {
	// Name is Config.Name.
	Name string
	// Projection and Version identify the projection.
	Projection string
	Version    int
	// Position is the new checkpoint.
	Position int64
	// Events is how many events the handler applied (0 when the batch
	// held only events of other types).
	Events int
}

func (e Applied) Kind() string      { return "cqrs.applied" }
func (e Applied) Component() string { return e.Name }
func (e Applied) LogValue() slog.Value {
	return slog.GroupValue(slog.String("projection", e.Projection), slog.Int("version", e.Version),
		slog.Int64("position", e.Position), slog.Int("events", e.Events))
}

// EventFailed is reported after each failed try of an event, with what
// happens next: before the wait for the next try (Next is RetryEvent), or
// once the projection is parked (ParkProjection) or the event skipped
// (SkipEvent).
type EventFailed struct {
	// Name is Config.Name.
	Name string
	// Projection and Version identify the projection.
	Projection string
	Version    int
	// Event is the event that failed.
	Event eventsource.Event
	// Attempt counts the tries of the event so far, from 1.
	Attempt int
	// Err is the handler's error (a panic is turned into one).
	Err error
	// Next is what the projector does now.
	Next Action
	// Wait is the wait before the next try (0 unless Next is RetryEvent).
	Wait time.Duration
}

func (e EventFailed) Kind() string      { return "cqrs.event_failed" }
func (e EventFailed) Component() string { return e.Name }
func (e EventFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("projection", e.Projection), slog.Int("version", e.Version),
		slog.Int64("position", e.Event.GlobalPosition), slog.String("stream", e.Event.StreamID),
		slog.Int64("stream_version", e.Event.StreamVersion), slog.String("type", e.Event.Type),
		slog.Int("attempt", e.Attempt), slog.String("next", e.Next.String()), slog.Duration("wait", e.Wait),
		slog.Any("error", e.Err))
}

// CaughtUp is reported when a projection has applied every event the store
// can deliver so far and is about to wait for more: first when it has
// caught up, then after each batch of live events.
type CaughtUp struct {
	// Name is Config.Name.
	Name string
	// Projection and Version identify the projection.
	Projection string
	Version    int
	// Position is the projection's checkpoint.
	Position int64
}

func (e CaughtUp) Kind() string      { return "cqrs.caught_up" }
func (e CaughtUp) Component() string { return e.Name }
func (e CaughtUp) LogValue() slog.Value {
	return slog.GroupValue(slog.String("projection", e.Projection), slog.Int("version", e.Version), slog.Int64("position", e.Position))
}

// Switched is reported when a version of a projection has caught up and
// become live, replacing version From (-1 for none): the moment to drop the
// old version's tables.
type Switched struct {
	// Name is Config.Name.
	Name string
	// Projection is the projection's name.
	Projection string
	// From is the version that was live (-1 for none); To the live one now.
	From, To int
}

func (e Switched) Kind() string      { return "cqrs.switched" }
func (e Switched) Component() string { return e.Name }
func (e Switched) LogValue() slog.Value {
	return slog.GroupValue(slog.String("projection", e.Projection), slog.Int("from", e.From), slog.Int("to", e.To))
}

var (
	_ bulwark.Event = Applied{}
	_ bulwark.Event = EventFailed{}
	_ bulwark.Event = CaughtUp{}
	_ bulwark.Event = Switched{}
)
