package discovery

import "context"

// Endpoint is one instance of a service.
type Endpoint struct {
	// Addr is where the instance listens: "host:port".
	Addr string `json:"addr"`
	// Meta holds what the registry knows about the instance besides its
	// address (zone, version, weight); nil when nothing.
	Meta map[string]string `json:"meta,omitempty"`
}

// Update is one delivery of a Resolver's watch.
type Update struct {
	// Endpoints is the service's whole endpoint set, sorted by Addr, with no
	// two endpoints of the same Addr; empty when the service has none. It is
	// nil when Err is set.
	Endpoints []Endpoint
	// Err is set when the resolver could not learn the set; the previous set
	// still stands and the resolver keeps trying.
	Err error
}

// Resolver watches the endpoints of services.
type Resolver interface {
	// Watch follows service's endpoints. The returned channel receives the
	// current set as soon as it is known and then every change (a resolver
	// may also repeat an unchanged set); a watcher that reads slowly may
	// miss sets in between, never the latest. It is closed after ctx ends. Watch
	// itself fails only for a service name the resolver cannot watch at all,
	// with an error that says why.
	Watch(ctx context.Context, service string) (<-chan Update, error)
}
