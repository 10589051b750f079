package clientlimit

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events of this package, reported to Config.Observer synchronously on
// the goroutine serving the request, with its context, before the answer
// is written.
var (
	_ bulwark.Event = Limited{}
	_ bulwark.Event = LimiterFailed{}
)

// Limited is reported for each request a window refused, with the
// client's key (an API key hashed), the window's name and its wait until
// the client's next permit.
type Limited struct {
	Name   string // the Limiter's Config.Name
	Key    string
	Window string
	Wait   time.Duration
}

func (Limited) Kind() string        { return "clientlimit.limited" }
func (e Limited) Component() string { return e.Name }
func (e Limited) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", e.Key), slog.String("window", e.Window), slog.Duration("wait", e.Wait))
}

// LimiterFailed is reported when a window's limiter failed (its store out
// of reach) rather than limited: the request is then served, or answered
// 503 with Config.FailClosed.
type LimiterFailed struct {
	Name   string
	Key    string
	Window string
	Err    error
}

func (LimiterFailed) Kind() string        { return "clientlimit.limiter_failed" }
func (e LimiterFailed) Component() string { return e.Name }
func (e LimiterFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("key", e.Key), slog.String("window", e.Window), slog.Any("error", e.Err))
}
