package upstream

import (
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events a Pool reports to Config.Observer.
var (
	_ bulwark.Event = EndpointsChanged{}
	_ bulwark.Event = ResolveFailed{}
	_ bulwark.Event = HealthChanged{}
	_ bulwark.Event = EndpointEjected{}
	_ bulwark.Event = EndpointRestored{}
)

// EndpointsChanged is reported when the resolver delivers a set that adds
// or removes endpoints (a repeated, unchanged set reports nothing).
type EndpointsChanged struct {
	// Name is the pool's Config.Name.
	Name string
	// Added and Removed are the addresses that joined and left, sorted.
	Added, Removed []string
	// Endpoints is the number of endpoints in the pool now.
	Endpoints int
}

// Kind returns "upstream.endpoints_changed".
func (EndpointsChanged) Kind() string { return "upstream.endpoints_changed" }

// Component returns Name.
func (e EndpointsChanged) Component() string { return e.Name }

// LogValue returns added, removed and endpoints.
func (e EndpointsChanged) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("added", e.Added), slog.Any("removed", e.Removed), slog.Int("endpoints", e.Endpoints))
}

// ResolveFailed is reported when the resolver could not learn the set; the
// pool keeps serving from the last set it had.
type ResolveFailed struct {
	// Name is the pool's Config.Name.
	Name string
	// Err is the resolver's error.
	Err error
}

// Kind returns "upstream.resolve_failed".
func (ResolveFailed) Kind() string { return "upstream.resolve_failed" }

// Component returns Name.
func (e ResolveFailed) Component() string { return e.Name }

// LogValue returns error.
func (e ResolveFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("error", e.Err))
}

// HealthChanged is reported when active health checks turn an endpoint
// unhealthy or healthy again.
type HealthChanged struct {
	// Name is the pool's Config.Name.
	Name string
	// Addr is the endpoint's address.
	Addr string
	// Healthy is the endpoint's new health.
	Healthy bool
	// Err is the last failed check's error when Healthy is false.
	Err error
}

// Kind returns "upstream.health_changed".
func (HealthChanged) Kind() string { return "upstream.health_changed" }

// Component returns Name.
func (e HealthChanged) Component() string { return e.Name }

// LogValue returns addr, healthy and, when set, error.
func (e HealthChanged) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("addr", e.Addr), slog.Bool("healthy", e.Healthy)}
	if e.Err != nil {
		attrs = append(attrs, slog.Any("error", e.Err))
	}
	return slog.GroupValue(attrs...)
}

// EndpointEjected is reported when outlier ejection takes an endpoint out of
// rotation. It is reported on the goroutine of the request whose failure
// ejected it, with that request's context.
type EndpointEjected struct {
	// Name is the pool's Config.Name.
	Name string
	// Addr is the endpoint's address.
	Addr string
	// Ejections is the number of ejections in a row, without a successful
	// probe between them: 1 for a first ejection.
	Ejections int
	// Until is when the ejection ends and a probe may go to the endpoint.
	Until time.Time
}

// Kind returns "upstream.endpoint_ejected".
func (EndpointEjected) Kind() string { return "upstream.endpoint_ejected" }

// Component returns Name.
func (e EndpointEjected) Component() string { return e.Name }

// LogValue returns addr, ejections and until.
func (e EndpointEjected) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", e.Addr), slog.Int("ejections", e.Ejections), slog.Time("until", e.Until))
}

// EndpointRestored is reported when an ejected endpoint is back in rotation:
// its probe succeeded, or a health check found it healthy again.
type EndpointRestored struct {
	// Name is the pool's Config.Name.
	Name string
	// Addr is the endpoint's address.
	Addr string
}

// Kind returns "upstream.endpoint_restored".
func (EndpointRestored) Kind() string { return "upstream.endpoint_restored" }

// Component returns Name.
func (e EndpointRestored) Component() string { return e.Name }

// LogValue returns addr.
func (e EndpointRestored) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", e.Addr))
}
