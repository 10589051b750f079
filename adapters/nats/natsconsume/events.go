package natsconsume

import (
	"log/slog"
	"time"
)

// FetchFailed is reported when Receive failed to fetch for a reason it
// rides out (a timeout, a connection being re-established, a server
// restarting) and will try again after Delay.
type FetchFailed struct {
	// Name is the Source's Config.Name.
	Name string
	// Err is the failure.
	Err error
	// Failures counts the failures in a row, this one included.
	Failures int
	// Delay is the wait before the next try.
	Delay time.Duration
}

// Kind returns "natsconsume.fetch_failed".
func (FetchFailed) Kind() string { return "natsconsume.fetch_failed" }

// Component returns the Source's name.
func (e FetchFailed) Component() string { return e.Name }

// LogValue returns the error, the failures in a row and the delay.
func (e FetchFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("error", e.Err), slog.Int("failures", e.Failures), slog.Duration("delay", e.Delay))
}
