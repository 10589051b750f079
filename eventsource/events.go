package eventsource

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events of this package, reported to Config.Observer (see
// bulwark.Observer). Observe is called synchronously on the goroutine of the
// work that caused the event, with that work's context, and never while a
// lock is held.

// CaughtUp is reported by a Subscription when it has handled every event
// the store can deliver so far and is about to wait for more: first when
// it has caught up with the log, then after each batch of live events. (A
// store may hold committed events back behind an append still in flight;
// they follow when it ends.) It is reported on the goroutine of Run, with
// Run's context.
type CaughtUp struct {
	// Name is SubscriptionConfig.Name.
	Name string
	// Position is the global position of the last event handled: the
	// subscriber's checkpoint.
	Position int64
}

func (e CaughtUp) Kind() string      { return "eventsource.caught_up" }
func (e CaughtUp) Component() string { return e.Name }
func (e CaughtUp) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("position", e.Position))
}

// Retried is reported by Repository.Handle before it tries a command again:
// after a version conflict (it loads and decides again) or after an append
// whose outcome is unknown (it re-sends the same events). It is reported on
// Handle's goroutine, with Handle's context, before the wait.
type Retried struct {
	// Name is RepositoryConfig.Name.
	Name string
	// ID is the aggregate's ID and StreamID its stream.
	ID, StreamID string
	// Attempt is the attempt that failed, from 1.
	Attempt int
	// Err is its error: a version conflict, or the append's error.
	Err error
	// Wait is how long Handle waits before the next attempt.
	Wait time.Duration
}

func (e Retried) Kind() string      { return "eventsource.retried" }
func (e Retried) Component() string { return e.Name }
func (e Retried) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", e.ID), slog.String("stream", e.StreamID), slog.Int("attempt", e.Attempt),
		slog.Duration("wait", e.Wait), slog.Any("error", e.Err))
}

// SnapshotFailed is reported by a Repository when a snapshot could not be
// used and Load fell back to a full replay (stale, of another schema,
// undecodable — Err then matches ErrSnapshotUnusable — or the snapshot store
// failed), or when saving a snapshot after Save failed. The command goes on
// either way. It is reported on the goroutine of Load, Save or Handle, with
// their context.
type SnapshotFailed struct {
	// Name is RepositoryConfig.Name.
	Name string
	// StreamID is the aggregate's stream.
	StreamID string
	// Err says what went wrong.
	Err error
}

func (e SnapshotFailed) Kind() string      { return "eventsource.snapshot_failed" }
func (e SnapshotFailed) Component() string { return e.Name }
func (e SnapshotFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("stream", e.StreamID), slog.Any("error", e.Err))
}

var (
	_ bulwark.Event = CaughtUp{}
	_ bulwark.Event = Retried{}
	_ bulwark.Event = SnapshotFailed{}
)
