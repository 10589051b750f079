package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
)

// Static is a Resolver over endpoints given in code or configuration. Set
// changes a service's set at run time, and every watcher of that service
// receives the new set.
//
// A watcher that reads slowly receives the latest set, never a stale one:
// sets it has not read yet are replaced, not queued. A service that was never
// Set has no endpoints. The zero Static is not usable; make one with
// NewStatic.
type Static struct {
	mu       sync.Mutex
	sets     map[string][]Endpoint
	watchers map[string]map[*staticWatch]struct{}
}

type staticWatch struct {
	ch     chan Update
	closed bool
}

// NewStatic returns a Static with no endpoints.
func NewStatic() *Static {
	return &Static{sets: map[string][]Endpoint{}, watchers: map[string]map[*staticWatch]struct{}{}}
}

// Set makes eps the whole endpoint set of service. An endpoint whose Addr is
// not "host:port" is an error and the set is left as it was. Duplicate
// addresses are merged (the last one's Meta wins).
func (s *Static) Set(service string, eps []Endpoint) error {
	if err := checkService(service); err != nil {
		return err
	}
	set, err := Normalize(eps)
	if err != nil {
		return fmt.Errorf("discovery: service %q: %w", service, err)
	}
	s.mustInit()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[service] = set
	for w := range s.watchers[service] {
		w.offer(Update{Endpoints: set})
	}
	return nil
}

// Watch implements Resolver. The channel receives the service's current set at
// once.
func (s *Static) Watch(ctx context.Context, service string) (<-chan Update, error) {
	if err := checkService(service); err != nil {
		return nil, err
	}
	s.mustInit()
	w := &staticWatch{ch: make(chan Update, 1)}
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		close(w.ch)
		return w.ch, nil
	}
	if s.watchers[service] == nil {
		s.watchers[service] = map[*staticWatch]struct{}{}
	}
	s.watchers[service][w] = struct{}{}
	w.offer(Update{Endpoints: s.current(service)})
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.watchers[service], w)
		if len(s.watchers[service]) == 0 {
			delete(s.watchers, service)
		}
		w.closed = true
		close(w.ch)
	})
	return w.ch, nil
}

// current returns service's set, never nil. Called with s.mu held.
func (s *Static) current(service string) []Endpoint {
	if set, ok := s.sets[service]; ok {
		return set
	}
	return []Endpoint{}
}

func (s *Static) mustInit() {
	if s.sets == nil {
		panic("discovery: Static used without NewStatic")
	}
}

// offer replaces an unread update with u. Called with the Static's mutex held,
// which every send and the close take, so a send never meets a closed channel.
func (w *staticWatch) offer(u Update) {
	if w.closed {
		return
	}
	select {
	case <-w.ch:
	default:
	}
	w.ch <- u
}

// Normalize checks that every endpoint's Addr is "host:port" and returns the
// set sorted by Addr with duplicates merged (the last one's Meta wins), as an
// Update carries it. Resolvers of other packages use it to keep the same form.
func Normalize(eps []Endpoint) ([]Endpoint, error) {
	byAddr := make(map[string]Endpoint, len(eps))
	for i, ep := range eps {
		host, port, err := net.SplitHostPort(ep.Addr)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("endpoint %d: Addr must be \"host:port\", got %q", i, ep.Addr)
		}
		byAddr[ep.Addr] = ep
	}
	set := make([]Endpoint, 0, len(byAddr))
	for _, ep := range byAddr {
		set = append(set, ep)
	}
	slices.SortFunc(set, func(a, b Endpoint) int { return strings.Compare(a.Addr, b.Addr) })
	return set, nil
}

var errNoService = errors.New("discovery: service name must not be empty")

func checkService(service string) error {
	if strings.TrimSpace(service) == "" {
		return errNoService
	}
	return nil
}
