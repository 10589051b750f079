package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Component shows a Gateway in an operations console: it has the methods of
// the console module's Component interface (Snapshot, Actions, Act), which
// it satisfies without either module importing the other. Register it with
// console.Config{Components: map[string]console.Component{"gateway":
// g.Component()}}. It is safe for concurrent use and always shows the
// route table in use.
type Component struct {
	g *Gateway
}

// Component returns the Gateway's console component.
func (g *Gateway) Component() *Component {
	g.check()
	return &Component{g: g}
}

// ComponentSnapshot is the JSON a Component's Snapshot returns.
type ComponentSnapshot struct {
	// Name is the gateway's name (Config.Name).
	Name string `json:"name"`
	// Routes are the routes of the table in use, in document order.
	Routes []RouteSnapshot `json:"routes"`
	// Upstreams are its pools, by name.
	Upstreams []UpstreamSnapshot `json:"upstreams"`
}

// RouteSnapshot is one route.
type RouteSnapshot struct {
	// Name is the route's name (its pattern when the document names none).
	Name string `json:"name"`
	// Pattern is the route's http.ServeMux pattern (match).
	Pattern string `json:"pattern"`
	// Upstream names the upstream the route sends to.
	Upstream string `json:"upstream"`
	// Policies are the route's stages in the order a request meets them:
	// "auth", "limits", the Go policy as "policy:NAME", then "rate_limit",
	// "bulkhead", "timeout", "breaker", "retry".
	Policies []string `json:"policies"`
}

// UpstreamSnapshot is one pool and its endpoints.
type UpstreamSnapshot struct {
	// Name is the upstream's name in the document.
	Name string `json:"name"`
	// Endpoints are the pool's endpoints, sorted by address.
	Endpoints []EndpointSnapshot `json:"endpoints"`
}

// EndpointSnapshot is one endpoint of a pool (upstream.EndpointState).
type EndpointSnapshot struct {
	// Addr is the endpoint's "host:port".
	Addr string `json:"addr"`
	// Healthy is false while active health checks find it unhealthy.
	Healthy bool `json:"healthy"`
	// Ejected is true while no request goes to it (outlier or manual
	// ejection).
	Ejected bool `json:"ejected"`
	// Manual is true for an ejection by the "eject" action.
	Manual bool `json:"manual,omitempty"`
	// EjectedUntil is when an outlier ejection ends; absent otherwise.
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
	// Outstanding is its requests in flight.
	Outstanding int `json:"outstanding"`
}

// Snapshot returns the route table in use and every endpoint of its pools,
// as a ComponentSnapshot in JSON.
func (c *Component) Snapshot(context.Context) (json.RawMessage, error) {
	t := c.g.table.Load()
	s := ComponentSnapshot{Name: c.g.name, Routes: []RouteSnapshot{}, Upstreams: []UpstreamSnapshot{}}
	for _, r := range t.doc.Routes {
		s.Routes = append(s.Routes, RouteSnapshot{Name: r.routeName(), Pattern: r.Match, Upstream: r.Upstream, Policies: stages(r)})
	}
	for _, name := range slices.Sorted(maps.Keys(t.pools)) {
		u := UpstreamSnapshot{Name: name, Endpoints: []EndpointSnapshot{}}
		for _, ep := range t.pools[name].p.Endpoints() {
			e := EndpointSnapshot{Addr: ep.Addr, Healthy: ep.Healthy, Ejected: ep.Ejected, Manual: ep.Manual, Outstanding: ep.Outstanding}
			if !ep.EjectedUntil.IsZero() {
				until := ep.EjectedUntil.UTC()
				e.EjectedUntil = &until
			}
			u.Endpoints = append(u.Endpoints, e)
		}
		s.Upstreams = append(s.Upstreams, u)
	}
	return json.Marshal(s)
}

// stages lists a route's stages in the order a request meets them.
func stages(r Route) []string {
	out := []string{}
	add := func(on bool, name string) {
		if on {
			out = append(out, name)
		}
	}
	add(r.Auth != nil, "auth")
	add(r.Limits != nil, "limits")
	add(r.Policy != "", "policy:"+r.Policy)
	ps := r.Policies
	add(ps.RateLimit != nil, "rate_limit")
	add(ps.Bulkhead != nil, "bulkhead")
	add(r.Timeout > 0, "timeout")
	add(ps.Breaker != nil, "breaker")
	add(ps.Retry != nil, "retry")
	return out
}

// Actions returns "eject" and "restore".
func (c *Component) Actions() []string { return []string{"eject", "restore"} }

// Act ejects an endpoint from its pool by hand ("eject": no request goes
// to it until "restore") or returns it ("restore": also ends an outlier
// ejection early). target is "UPSTREAM/HOST:PORT", such as
// "orders/10.0.0.1:8080". A manual ejection lasts as long as the pool: a
// reload that changes the upstream's settings makes a new pool without it.
func (c *Component) Act(_ context.Context, action, target string) error {
	name, addr, ok := strings.Cut(target, "/")
	if !ok || name == "" || addr == "" {
		return fmt.Errorf("gateway: the target must be \"upstream/host:port\", got %q", target)
	}
	p, ok := c.g.table.Load().pools[name]
	if !ok {
		return fmt.Errorf("gateway: no upstream %q", name)
	}
	switch action {
	case "eject":
		return p.p.Eject(addr)
	case "restore":
		return p.p.Restore(addr)
	}
	return errors.New("gateway: the actions are \"eject\" and \"restore\", got " + fmt.Sprintf("%q", action))
}
