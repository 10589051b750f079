package gateway

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// staticResolver is the name of the resolver every Gateway has: it serves
// the endpoint lists of the document's static upstreams.
const staticResolver = "static"

// pool is one running upstream.Pool and what it was made from, so that a
// reload keeps a pool whose settings did not change (and its connections,
// health state and ejections) and replaces one whose settings did.
type pool struct {
	name string
	key  string // the settings the pool was made from (poolKey)
	p    *upstream.Pool
}

// poolKey is what makes two upstreams the same pool: everything but the
// static endpoint list, which the static resolver updates in place.
func poolKey(name string, u Upstream) string {
	u.Endpoints = nil
	b, err := json.Marshal(u)
	if err != nil { // an Upstream has only strings, numbers and durations
		panic("gateway: encoding an upstream: " + err.Error())
	}
	return name + "\x00" + string(b)
}

// staticEndpoints returns a static upstream's endpoint set.
func staticEndpoints(u Upstream) []discovery.Endpoint {
	eps := make([]discovery.Endpoint, 0, len(u.Endpoints))
	for _, a := range u.Endpoints {
		eps = append(eps, discovery.Endpoint{Addr: a})
	}
	return eps
}

// newPool makes the pool of upstream name from its settings. path names the
// upstream in errors.
func (g *Gateway) newPool(path, name string, u Upstream) (*upstream.Pool, error) {
	resolverName := cmpOr(u.Discovery, staticResolver)
	resolver, ok := g.resolvers[resolverName]
	if !ok {
		return nil, fmt.Errorf("gateway: %s.discovery: no resolver %q (have %v)", path, resolverName, slices.Sorted(maps.Keys(g.resolvers)))
	}
	cfg := upstream.Config{
		Name:      name,
		Observer:  g.cfg.Observer,
		Clock:     g.cfg.Clock,
		Scheme:    u.Scheme,
		Transport: g.attempts,
	}
	if u.Balancer == "least_outstanding" {
		cfg.Balancer = upstream.LeastOutstanding
	}
	if h := u.HealthCheck; h != nil {
		cfg.HealthCheck = upstream.HealthCheck{Path: h.Path, Interval: time.Duration(h.Interval), Timeout: time.Duration(h.Timeout),
			HealthyAfter: h.HealthyThreshold, UnhealthyAfter: h.UnhealthyThreshold}
		if cfg.HealthCheck.Timeout == 0 {
			cfg.HealthCheck.Timeout = min(2*time.Second, cmpOr(cfg.HealthCheck.Interval, 10*time.Second))
		}
	}
	if o := u.Outlier; o != nil {
		cfg.Outlier = upstream.Outlier{ConsecutiveFailures: o.ConsecutiveFailures, EjectionTime: time.Duration(o.EjectionTime),
			MaxEjectedPercent: float64(o.MaxEjectedPercent)}
	}
	p, err := upstream.New(resolver, cmpOr(u.Service, name), cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	return p, nil
}
