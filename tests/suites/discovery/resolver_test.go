package discovery_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/bulwark-go/bulwark/discovery"
)

// registry holds each service's endpoints, in the order they were set, and
// closes changed on every change so that watchers wake up.
type registry struct {
	mu      sync.Mutex
	sets    map[string][]discovery.Endpoint
	last    string        // the service changed last
	changed chan struct{} // closed and replaced on each change
}

func newRegistry() *registry {
	return &registry{sets: map[string][]discovery.Endpoint{}, changed: make(chan struct{})}
}

func (g *registry) set(service string, eps []discovery.Endpoint) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sets[service] = slices.Clone(eps)
	g.last = service
	close(g.changed)
	g.changed = make(chan struct{})
}

// snapshot returns service's endpoints as stored, the service changed last
// and the channel closed by the next change.
func (g *registry) snapshot(service string) ([]discovery.Endpoint, string, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sets[service]), g.last, g.changed
}

// resolver watches a registry. flaw names one deliberate defect ("" for
// none).
type resolver struct {
	g    *registry
	flaw string
}

func (r *resolver) Watch(ctx context.Context, service string) (<-chan discovery.Update, error) {
	if strings.TrimSpace(service) == "" && r.flaw != "accepts-empty-name" {
		return nil, errors.New("resolver: service name must not be empty")
	}
	ch := make(chan discovery.Update, 1)
	go r.watch(ctx, service, ch)
	return ch, nil
}

// watch offers the service's set, sorted, at once and after each change,
// replacing a set the caller has not read yet.
func (r *resolver) watch(ctx context.Context, service string, ch chan discovery.Update) {
	defer func() {
		if r.flaw != "never-closes" {
			close(ch)
		}
	}()
	first := true
	for {
		eps, last, changed := r.g.snapshot(service)
		if r.flaw == "mixes-services" && !first && last != service {
			eps, _, _ = r.g.snapshot(last) // the set of whatever changed
		}
		if !(first && r.flaw == "drops-current") {
			offer(ch, discovery.Update{Endpoints: r.normalize(eps)})
		}
		first = false
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

func (r *resolver) normalize(eps []discovery.Endpoint) []discovery.Endpoint {
	switch r.flaw {
	case "unsorted":
		return eps
	case "nil-empty":
		if len(eps) == 0 {
			return nil
		}
	}
	set, err := discovery.Normalize(eps)
	if err != nil { // the suite sets valid addresses only
		panic(err)
	}
	return set
}

func offer(ch chan discovery.Update, u discovery.Update) {
	select {
	case <-ch:
	default:
	}
	ch <- u
}
