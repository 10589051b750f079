package timeout

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

var _ bulwark.Event = TimedOut{}

// TimedOut is reported once for every call that ran out of time, on the
// caller's goroutine, with the caller's context, just before Do returns the
// timeout error; a Timeout without an Observer builds no event. Kind
// "timeout.timed_out".
type TimedOut struct {
	// Name is the Timeout's Config.Name.
	Name string
	// Timeout is the Config.Timeout that passed.
	Timeout time.Duration
	// Detached reports that Do returned at the deadline and left op
	// running (Config.Detach); false when op returned, late, before Do
	// did.
	Detached bool
	// Err is the error op returned late, or nil when op returned nil or
	// was left running.
	Err error
}

// Kind returns "timeout.timed_out".
func (TimedOut) Kind() string { return "timeout.timed_out" }

// Component returns the Timeout's name.
func (e TimedOut) Component() string { return e.Name }

// LogValue returns the timeout, whether op was left running, and op's late
// error under "error" when there was one.
func (e TimedOut) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Duration("timeout", e.Timeout), slog.Bool("detached", e.Detached)}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}
