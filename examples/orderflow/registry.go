package main

import (
	"fmt"
	"net/url"
	"slices"
	"sync"

	"github.com/bulwark-go/bulwark/discovery"
)

// registry is the flow's service discovery. Each service registers its
// address under its name when it starts and leaves when it closes; the
// gateway's pools find the services through resolver, so none of them is
// given another's address.
type registry struct {
	static *discovery.Static

	mu   sync.Mutex
	sets map[string][]discovery.Endpoint
}

func newRegistry() *registry {
	return &registry{static: discovery.NewStatic(), sets: map[string][]discovery.Endpoint{}}
}

// register adds the instance listening at rawURL ("http://host:port") to
// service's endpoints. The returned func removes it again.
func (r *registry) register(service, rawURL string) (deregister func(), err error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("registering %s: %q is not a service URL", service, rawURL)
	}
	ep := discovery.Endpoint{Addr: u.Host}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.static.Set(service, append(slices.Clone(r.sets[service]), ep)); err != nil {
		return nil, err
	}
	r.sets[service] = append(r.sets[service], ep)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sets[service] = slices.DeleteFunc(r.sets[service], func(e discovery.Endpoint) bool { return e.Addr == ep.Addr })
		_ = r.static.Set(service, r.sets[service])
	}, nil
}

// resolver is what the gateway watches.
func (r *registry) resolver() discovery.Resolver { return r.static }
