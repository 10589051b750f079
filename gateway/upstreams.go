package gateway

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

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
//
// The document's balancer, health_check and outlier settings are validated
// by Validate but not yet passed on: upstream.Config does not have them in
// this version of the upstream package.
func (g *Gateway) newPool(path, name string, u Upstream) (*upstream.Pool, error) {
	resolverName := cmpOr(u.Discovery, staticResolver)
	resolver, ok := g.resolvers[resolverName]
	if !ok {
		return nil, fmt.Errorf("gateway: %s.discovery: no resolver %q (have %v)", path, resolverName, slices.Sorted(maps.Keys(g.resolvers)))
	}
	p, err := upstream.New(resolver, cmpOr(u.Service, name), upstream.Config{
		Name:      name,
		Scheme:    u.Scheme,
		Transport: g.attempts,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	return p, nil
}
