package idempotency

import (
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

// The events of this package. Each is reported to the Config.Observer of
// the component named in its comment, synchronously, on the goroutine of
// the work that caused it and with that work's context, never under a
// lock.
var (
	_ bulwark.Event = Replayed{}
	_ bulwark.Event = TakenOver{}
	_ bulwark.Event = Duplicate{}
	_ bulwark.Event = Cleaned{}
	_ bulwark.Event = CleanupFailed{}
)

// Replayed is reported by a Keeper when a request gets the stored outcome
// of its key instead of running (Keeper.Start, so also Do, Inbox and the
// HTTP middleware), on the caller's goroutine.
type Replayed struct {
	Name string // the Keeper's Config.Name
	Ref  Ref
}

func (Replayed) Kind() string        { return "idempotency.replayed" }
func (e Replayed) Component() string { return e.Name }
func (e Replayed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scope", e.Ref.Scope), slog.String("key", e.Ref.Key))
}

// TakenOver is reported by a Keeper when a request takes over a key whose
// holder's lease ran out (the holder is presumed dead, and the operation
// runs again as attempt Attempt, 2 or more), on the caller's goroutine.
type TakenOver struct {
	Name    string // the Keeper's Config.Name
	Ref     Ref
	Attempt int
}

func (TakenOver) Kind() string        { return "idempotency.taken_over" }
func (e TakenOver) Component() string { return e.Name }
func (e TakenOver) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scope", e.Ref.Scope), slog.String("key", e.Ref.Key), slog.Int("attempt", e.Attempt))
}

// Duplicate is reported by an inbox (Inbox, and the SQL adapters'
// transactional inboxes) for each message it skips because the message was
// processed already, on the goroutine that called Process.
type Duplicate struct {
	Name      string // the inbox's InboxConfig.Name
	Consumer  string
	MessageID string
}

func (Duplicate) Kind() string        { return "idempotency.duplicate" }
func (e Duplicate) Component() string { return e.Name }
func (e Duplicate) LogValue() slog.Value {
	return slog.GroupValue(slog.String("consumer", e.Consumer), slog.String("message_id", e.MessageID))
}

// Cleaned is reported by a Cleaner after each successful cleanup, on its
// Run's goroutine.
type Cleaned struct {
	Name    string // the Cleaner's CleanerConfig.Name
	Deleted int    // the expired records deleted
}

func (Cleaned) Kind() string        { return "idempotency.cleaned" }
func (e Cleaned) Component() string { return e.Name }
func (e Cleaned) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("deleted", e.Deleted))
}

// CleanupFailed is reported by a Cleaner when a cleanup fails, on its
// Run's goroutine; the next cleanup is at the next interval. A cleanup cut
// short by Close or by the end of Run's context is not a failure.
type CleanupFailed struct {
	Name    string // the Cleaner's CleanerConfig.Name
	Deleted int    // the records deleted before the failure
	Err     error
}

func (CleanupFailed) Kind() string        { return "idempotency.cleanup_failed" }
func (e CleanupFailed) Component() string { return e.Name }
func (e CleanupFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("deleted", e.Deleted), slog.Any("error", e.Err))
}
