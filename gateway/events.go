package gateway

import (
	"log/slog"
	"time"
)

// Reloaded is reported when a new route table took over.
type Reloaded struct {
	Name      string // the gateway's Config.Name
	Routes    int    // routes in the new table
	Upstreams int    // upstreams in the new table
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
	Name string // the gateway's Config.Name
	Err  error  // why the document was refused, naming the field
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
	Name     string        // the gateway's Config.Name
	Route    string        // the route's name
	Upstream string        // the upstream's name
	Endpoint string        // "host:port" of the last attempt
	Method   string        // the request's method
	Status   int           // the status answered
	Duration time.Duration // from the request's arrival to the end of its answer
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
