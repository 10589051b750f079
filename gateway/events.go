package gateway

import (
	"log/slog"
	"time"
)

// Reloaded is reported when a new route table took over.
type Reloaded struct {
	Name      string
	Routes    int
	Upstreams int
}

// Kind returns "gateway.reloaded".
func (Reloaded) Kind() string { return "gateway.reloaded" }

// Component returns the gateway's name.
func (e Reloaded) Component() string { return e.Name }

// LogValue returns the event's fields.
func (e Reloaded) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("routes", e.Routes), slog.Int("upstreams", e.Upstreams))
}

// ReloadFailed is reported when a document was refused; the table in use
// stays.
type ReloadFailed struct {
	Name string
	Err  error
}

// Kind returns "gateway.reload_failed".
func (ReloadFailed) Kind() string { return "gateway.reload_failed" }

// Component returns the gateway's name.
func (e ReloadFailed) Component() string { return e.Name }

// LogValue returns the event's fields.
func (e ReloadFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("error", e.Err))
}

// Served is reported once per request when it has been answered. Route
// and Upstream are "" for a request no route matched; Endpoint is the
// address of the last attempt's endpoint, "" when none was tried.
type Served struct {
	Name     string
	Route    string
	Upstream string
	Endpoint string
	Method   string
	Status   int
	Duration time.Duration
}

// Kind returns "gateway.served".
func (Served) Kind() string { return "gateway.served" }

// Component returns the gateway's name.
func (e Served) Component() string { return e.Name }

// LogValue returns the event's fields.
func (e Served) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("route", e.Route), slog.String("upstream", e.Upstream), slog.String("endpoint", e.Endpoint),
		slog.String("method", e.Method), slog.Int("status", e.Status), slog.Duration("duration", e.Duration))
}
