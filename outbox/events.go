package outbox

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events a Relay reports to Config.Observer. Each is reported once the
// batch's outcome is recorded in the store (never for an outcome the store
// did not record), on the goroutine that processed the batch (Run's own, or
// the caller of ProcessBatch), with that goroutine's context, and never
// while the relay holds a lock: an Observer may call the relay's methods.
var (
	_ bulwark.Event = Published{}
	_ bulwark.Event = PublishFailed{}
	_ bulwark.Event = DeadLettered{}
)

// Published is reported for each message the broker accepted, after its
// publication was recorded.
type Published struct {
	// Relay is the relay's Config.Name.
	Relay string
	// Message is the message published.
	Message Message
	// Attempts is the number of failed attempts before this one.
	Attempts int
}

// Kind returns "outbox.published".
func (Published) Kind() string { return "outbox.published" }

// Component returns the relay's name.
func (e Published) Component() string { return e.Relay }

// LogValue returns the message's id, topic and key and the attempts.
func (e Published) LogValue() slog.Value {
	return slog.GroupValue(messageAttrs(e.Message, slog.Int("attempts", e.Attempts))...)
}

// PublishFailed is reported for each failed publish that will be retried,
// after the failure and the retry time were recorded.
type PublishFailed struct {
	// Relay is the relay's Config.Name.
	Relay string
	// Message is the message whose publish failed.
	Message Message
	// Attempts is the number of failed attempts so far, this one included.
	Attempts int
	// Err is the Publisher's error.
	Err error
	// RetryAt is the earliest time of the next attempt.
	RetryAt time.Time
}

// Kind returns "outbox.publish_failed".
func (PublishFailed) Kind() string { return "outbox.publish_failed" }

// Component returns the relay's name.
func (e PublishFailed) Component() string { return e.Relay }

// LogValue returns the message's id, topic and key, the attempts, the
// error and the retry time.
func (e PublishFailed) LogValue() slog.Value {
	return slog.GroupValue(messageAttrs(e.Message,
		slog.Int("attempts", e.Attempts), slog.Any("error", e.Err), slog.Time("retry_at", e.RetryAt))...)
}

// DeadLettered is reported for each message moved to the dead letters,
// after the move was recorded: after Config.MaxAttempts failed publishes,
// or at once when the Publisher refused it as invalid.
type DeadLettered struct {
	// Relay is the relay's Config.Name.
	Relay string
	// Message is the message dead-lettered.
	Message Message
	// Attempts is the number of failed attempts, the last one included.
	Attempts int
	// Err is the Publisher's last error.
	Err error
	// Invalid reports that Err matched ErrInvalidMessage: the Publisher
	// can never publish the message as it is, so it was not retried.
	Invalid bool
}

// Kind returns "outbox.dead_lettered".
func (DeadLettered) Kind() string { return "outbox.dead_lettered" }

// Component returns the relay's name.
func (e DeadLettered) Component() string { return e.Relay }

// LogValue returns the message's id, topic and key, the attempts, the
// error and whether the message was invalid.
func (e DeadLettered) LogValue() slog.Value {
	return slog.GroupValue(messageAttrs(e.Message,
		slog.Int("attempts", e.Attempts), slog.Any("error", e.Err), slog.Bool("invalid", e.Invalid))...)
}

func messageAttrs(m Message, more ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{slog.String("id", m.ID.String()), slog.String("topic", m.Topic), slog.String("key", m.Key)}, more...)
}
