package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/discovery"
)

// ErrNoEndpoint is returned by RoundTrip when the pool has no endpoint to
// send a request to. It matches bulwark.ErrRejected.
var ErrNoEndpoint = fmt.Errorf("upstream: no endpoint available: %w", bulwark.ErrRejected)

// Config sets how a Pool balances and checks its endpoints. The zero Config
// is the default.
type Config struct {
	// Name names the pool in events and errors; the service name when
	// empty.
	Name string
	// Scheme is the scheme requests are sent with: "http" (default) or
	// "https".
	Scheme string
	// Transport sends each request to its endpoint; a tuned
	// http.Transport when nil.
	Transport http.RoundTripper
}

// Pool is a set of endpoints of one service. The zero Pool is not usable;
// make one with New.
type Pool struct {
	resolver  discovery.Resolver
	service   string
	cfg       Config
	endpoints atomic.Pointer[[]discovery.Endpoint]
	next      atomic.Uint64

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Pool of service's endpoints as resolver finds them.
func New(resolver discovery.Resolver, service string, cfg Config) (*Pool, error) {
	if resolver == nil {
		return nil, errors.New("upstream: New: resolver must not be nil")
	}
	if service == "" {
		return nil, errors.New("upstream: New: service must not be empty")
	}
	switch cfg.Scheme {
	case "":
		cfg.Scheme = "http"
	case "http", "https":
	default:
		return nil, fmt.Errorf("upstream: Config.Scheme must be \"http\" or \"https\", got %q", cfg.Scheme)
	}
	if cfg.Name == "" {
		cfg.Name = service
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	p := &Pool{resolver: resolver, service: service, cfg: cfg, done: make(chan struct{})}
	p.endpoints.Store(&[]discovery.Endpoint{})
	return p, nil
}

// Run follows the resolver until ctx ends or Close.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return bulwark.ErrClosed
	case p.running:
		p.mu.Unlock()
		return bulwark.ErrRunning
	}
	p.running = true
	ctx, p.cancel = context.WithCancel(ctx)
	p.mu.Unlock()
	defer close(p.done)
	updates, err := p.resolver.Watch(ctx, p.service)
	if err != nil {
		return fmt.Errorf("upstream: %s: %w", p.cfg.Name, err)
	}
	for u := range updates {
		if u.Err == nil {
			eps := u.Endpoints
			p.endpoints.Store(&eps)
		}
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("upstream: %s: %w", p.cfg.Name, ctx.Err())
}

// Close stops Run and waits for it within ctx.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	running := p.running
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("upstream: Close: %w", ctx.Err())
	}
}

// RoundTrip sends req to one endpoint of the pool: it sets the URL's scheme
// and host to the endpoint's and leaves the rest of the request as it is.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	eps := *p.endpoints.Load()
	if len(eps) == 0 {
		return nil, ErrNoEndpoint
	}
	ep := eps[p.next.Add(1)%uint64(len(eps))]
	out := req.Clone(req.Context())
	out.URL.Scheme = p.cfg.Scheme
	out.URL.Host = ep.Addr
	return p.cfg.Transport.RoundTrip(out)
}
