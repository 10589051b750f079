package upstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/discovery"
)

// ErrNoEndpoint is returned by RoundTrip when the pool has no endpoint to
// send a request to: the resolver has delivered no endpoint yet, or the
// service has none, or every endpoint is ejected (possible when
// Outlier.MaxEjectedPercent lets the last one go, as in a pool of one). It
// matches bulwark.ErrRejected, so bulwarkhttp answers it with a 503.
var ErrNoEndpoint = fmt.Errorf("upstream: no endpoint available: %w", bulwark.ErrRejected)

// Pool is a set of endpoints of one service, an http.RoundTripper that
// sends each request to one of them, and a bulwark.Service whose Run
// follows the resolver and runs the health checks. It is safe for
// concurrent use. The zero Pool is not usable; make one with New.
//
// Which endpoint a request goes to: the balancer chooses among the
// endpoints that are healthy (by active health checks), not ejected (by
// outlier ejection) and not yet used by the same call (see NewCall). When
// every such endpoint has been used by the call, it chooses among the
// healthy, not ejected ones. When no endpoint is healthy, the pool panics
// as Envoy does (with a panic threshold of zero): health checks are
// ignored and it chooses among every endpoint not ejected, since a health
// check that fails everywhere more likely reports its own fault than the
// whole service's. When every endpoint is ejected, RoundTrip returns
// ErrNoEndpoint.
type Pool struct {
	resolver  discovery.Resolver
	service   string
	cfg       Config
	clock     clock.Clock
	transport http.RoundTripper
	owned     *http.Transport // the default transport, nil with Config.Transport
	breakers  *circuitbreaker.Keyed[string]
	set       atomic.Pointer[endpointSet]
	next      atomic.Uint64

	update sync.Mutex // serializes changes of set

	ready     chan struct{} // closed when the resolver's first set is in
	readyOnce sync.Once

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// endpointSet is the pool's endpoints, sorted by address.
type endpointSet struct {
	list   []*endpoint
	byAddr map[string]*endpoint
}

// New returns a Pool of service's endpoints as resolver finds them, or an
// error naming a nil resolver, an empty service or the first invalid
// setting of cfg. It starts nothing: the pool has no endpoint until Run has
// received the resolver's first set.
func New(resolver discovery.Resolver, service string, cfg Config) (*Pool, error) {
	if resolver == nil {
		return nil, errors.New("upstream: New: resolver must not be nil")
	}
	if service == "" {
		return nil, errors.New("upstream: New: service must not be empty")
	}
	cfg = cfg.withDefaults(service)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pool{resolver: resolver, service: service, cfg: cfg, clock: clock.OrSystem(cfg.Clock), transport: cfg.Transport, done: make(chan struct{}), ready: make(chan struct{})}
	if p.transport == nil {
		p.owned = newTransport(cfg)
		p.transport = p.owned
	}
	o := cfg.Outlier
	breakers, err := circuitbreaker.NewKeyed(circuitbreaker.KeyedConfig[string]{
		Breaker: circuitbreaker.Config{
			Name:     cfg.Name,
			Observer: bulwark.ObserverFunc(p.onBreakerEvent),
			Clock:    cfg.Clock,
			// The window trips only when it is full of failures, which
			// the consecutive-failure trip sees first.
			Window:               circuitbreaker.LastCalls(o.ConsecutiveFailures),
			MinimumCalls:         o.ConsecutiveFailures,
			FailureRateThreshold: 100,
			ConsecutiveFailures:  o.ConsecutiveFailures,
			OpenWait:             o.EjectionTime,
			OpenWaitMultiplier:   2,
			MaxOpenWait:          o.MaxEjectionTime,
			OpenWaitJitter:       circuitbreaker.NoJitter,
			HalfOpenCalls:        1,
			HalfOpenSuccesses:    1,
			MaxHalfOpenWait:      circuitbreaker.NoMaxHalfOpenWait,
		},
		MaxKeys:        math.MaxInt32,
		MaxOpenPercent: o.MaxEjectedPercent,
	})
	if err != nil {
		return nil, fmt.Errorf("upstream: Config.Outlier: %w", err)
	}
	p.breakers = breakers
	p.set.Store(&endpointSet{byAddr: map[string]*endpoint{}})
	return p, nil
}

// check panics if p was not made by New.
func (p *Pool) check() {
	if p.breakers == nil {
		panic("upstream: Pool used without New")
	}
}

// Run follows the resolver and runs the health checks until ctx ends
// (returning its error, wrapped) or Close (returning nil). When the
// resolver reports an error the pool keeps its last set. Run fails at once
// if the resolver cannot watch the service at all.
func (p *Pool) Run(ctx context.Context) error {
	p.check()
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
	defer p.cancel()
	updates, err := p.resolver.Watch(ctx, p.service)
	if err != nil {
		return fmt.Errorf("upstream: %s: %w", p.cfg.Name, err)
	}
	var health sync.WaitGroup
	if p.cfg.HealthCheck.Path != "" {
		health.Go(func() { p.checkHealth(ctx) })
	}
	for u := range updates {
		if u.Err != nil {
			p.observe(ctx, ResolveFailed{Name: p.cfg.Name, Err: u.Err})
			continue
		}
		p.apply(ctx, u.Endpoints)
		p.readyOnce.Do(func() { close(p.ready) })
	}
	p.cancel()
	health.Wait()
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	switch {
	case closed:
		return nil
	case ctx.Err() == nil:
		return fmt.Errorf("upstream: %s: the resolver ended its watch", p.cfg.Name)
	}
	return fmt.Errorf("upstream: %s: %w", p.cfg.Name, context.Cause(ctx))
}

// Ready is closed once Run has received the resolver's first endpoint set
// (which may be empty): until then every RoundTrip fails with ErrNoEndpoint.
// A gateway waits on it before it sends requests to a new pool.
func (p *Pool) Ready() <-chan struct{} { return p.ready }

// Close stops Run and waits for it within ctx, then closes the idle
// connections of the pool's own transport. Requests in flight finish.
func (p *Pool) Close(ctx context.Context) error {
	p.check()
	p.mu.Lock()
	p.closed = true
	running := p.running
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	if p.owned != nil {
		defer p.owned.CloseIdleConnections()
	}
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

// apply makes eps the pool's endpoints, keeping the state of those that
// stay.
func (p *Pool) apply(ctx context.Context, eps []discovery.Endpoint) {
	p.update.Lock()
	old := p.set.Load()
	next := &endpointSet{list: make([]*endpoint, 0, len(eps)), byAddr: make(map[string]*endpoint, len(eps))}
	var added, removed []string
	for _, d := range eps {
		ep := old.byAddr[d.Addr]
		if ep == nil {
			ep = &endpoint{addr: d.Addr, breaker: p.breakers.Breaker(d.Addr)}
			ep.healthy.Store(true)
			added = append(added, d.Addr)
		}
		ep.meta.Store(&d.Meta)
		next.list = append(next.list, ep)
		next.byAddr[d.Addr] = ep
	}
	for _, ep := range old.list {
		if next.byAddr[ep.addr] == nil {
			removed = append(removed, ep.addr)
			p.breakers.Remove(ep.addr)
		}
	}
	p.set.Store(next)
	p.update.Unlock()
	if len(added) > 0 || len(removed) > 0 {
		p.observe(ctx, EndpointsChanged{Name: p.cfg.Name, Added: added, Removed: removed, Endpoints: len(next.list)})
	}
}

// Endpoints returns a snapshot of the pool's endpoints, sorted by address.
func (p *Pool) Endpoints() []EndpointState {
	p.check()
	set := p.set.Load()
	out := make([]EndpointState, len(set.list))
	for i, ep := range set.list {
		out[i] = ep.state()
	}
	return out
}

// onBreakerEvent turns the state changes of the endpoints' breakers into
// ejections and restorations.
func (p *Pool) onBreakerEvent(ctx context.Context, e bulwark.Event) {
	sc, ok := e.(circuitbreaker.StateChange)
	if !ok {
		return
	}
	addr, _ := sc.Key.(string)
	ep := p.set.Load().byAddr[addr]
	if ep == nil || ep.breaker == nil {
		return
	}
	switch {
	case sc.To == circuitbreaker.StateOpen:
		n := sc.Metrics.Trips + 1
		until := p.clock.Now().Add(p.ejectionTime(n))
		ep.ejections.Store(int32(n))
		ep.ejectedAt.Store(until.UnixNano())
		p.observe(ctx, EndpointEjected{Name: p.cfg.Name, Addr: addr, Ejections: n, Until: until})
	case sc.To == circuitbreaker.StateClosed && sc.From != circuitbreaker.StateClosed:
		ep.ejectedAt.Store(0)
		ep.ejections.Store(0)
		p.observe(ctx, EndpointRestored{Name: p.cfg.Name, Addr: addr})
	}
}

// ejectionTime is the length of the n-th ejection in a row, as the breaker
// computes its open wait.
func (p *Pool) ejectionTime(n int) time.Duration {
	d, limit := p.cfg.Outlier.EjectionTime, p.cfg.Outlier.MaxEjectionTime
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

func (p *Pool) observe(ctx context.Context, e bulwark.Event) {
	if p.cfg.Observer != nil {
		p.cfg.Observer.Observe(ctx, e)
	}
}
