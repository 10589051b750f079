package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/discovery"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
)

// Gateway is an API gateway: an http.Handler that sends each request to the
// upstream its route names, and a bulwark.Service whose Run runs the
// upstream pools (and follows Config.Source). It is safe for concurrent
// use. The zero Gateway is not usable; make one with New.
type Gateway struct {
	cfg       Config
	name      string
	logger    *slog.Logger
	clock     clock.Clock
	resolvers map[string]discovery.Resolver
	static    *discovery.Static
	tracer    trace.Tracer
	attempts  http.RoundTripper // the pools' transport: a client span per attempt
	own       *http.Transport   // the transport the gateway made, when Config.Transport is nil
	errorLog  *slog.Logger

	// tracing says whether requests start spans (setTracer); unsetGlobal
	// is the global provider the tracer came from while none was set.
	tracing     int
	unsetGlobal trace.TracerProvider

	table atomic.Pointer[table]

	mu      sync.Mutex // serialises Reload, Run and Close
	running bool
	closed  bool
	runCtx  context.Context
	stop    context.CancelFunc
	stopped chan struct{} // closed by Close
	done    chan struct{} // closed when Run returns
	work    sync.WaitGroup
}

var _ bulwark.Service = (*Gateway)(nil)

// New returns a Gateway serving doc. It validates doc (Validate) and cfg,
// and makes the pools of doc's upstreams; it starts nothing: requests get
// endpoints once Run runs the pools.
func New(doc *Document, cfg Config) (*Gateway, error) {
	if doc == nil {
		return nil, errors.New("gateway: New: doc must not be nil")
	}
	if _, ok := cfg.Resolvers[staticResolver]; ok {
		return nil, errors.New("gateway: Config.Resolvers must not hold \"static\": every Gateway has its own static resolver")
	}
	for name, r := range cfg.Resolvers {
		if r == nil || !validName(name) {
			return nil, fmt.Errorf("gateway: Config.Resolvers[%q] must be a non-nil resolver under a name of letters, digits, '.', '_' or '-'", name)
		}
	}
	for name, p := range cfg.Policies {
		if p == nil {
			return nil, fmt.Errorf("gateway: Config.Policies[%q] must not be nil", name)
		}
	}
	g := &Gateway{
		cfg:       cfg,
		name:      cmpOr(cfg.Name, "gateway"),
		logger:    cfg.Logger,
		clock:     clock.OrSystem(cfg.Clock),
		static:    discovery.NewStatic(),
		resolvers: map[string]discovery.Resolver{},
		stopped:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	if g.logger == nil {
		g.logger = slog.Default()
	}
	g.cfg.Logger = g.logger
	g.errorLog = g.logger.With("component", g.name)
	for name, r := range cfg.Resolvers {
		g.resolvers[name] = r
	}
	g.resolvers[staticResolver] = g.static
	g.setTracer(cfg.TracerProvider)
	if g.cfg.Propagator == nil {
		g.cfg.Propagator = otel.GetTextMapPropagator()
	}
	base := cfg.Transport
	if base == nil {
		g.own = newTransport()
		base = g.own
	}
	g.attempts = &attemptTransport{g: g, base: base}
	t, err := g.build(doc, nil)
	if err != nil {
		return nil, err
	}
	g.install(doc)
	g.table.Store(t)
	return g, nil
}

// newTransport returns the transport attempts go through by default: keeps
// many idle connections per endpoint (a gateway talks to few hosts, often),
// and bounds dialing and the TLS handshake.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // the gateway is the proxy: never chain through $HTTP_PROXY
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// build makes the table of doc, reusing the pools of old whose settings did
// not change. It changes nothing outside the new table, so a failed build
// leaves the gateway as it was.
func (g *Gateway) build(doc *Document, old *table) (*table, error) {
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	t := newTable()
	var err error
	if t.verifier, t.jwtKey, err = g.verifier(doc, old); err != nil {
		return nil, err
	}
	for name, u := range doc.Upstreams {
		key := poolKey(name, u)
		if old != nil {
			if p, ok := old.pools[name]; ok && p.key == key {
				t.pools[name] = p
				continue
			}
		}
		p, err := g.newPool("upstreams."+name, name, u)
		if err != nil {
			return nil, err
		}
		t.pools[name] = &pool{name: name, key: key, p: p}
	}
	for i, r := range doc.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		r.ForwardedHeaders = cmpOr(r.ForwardedHeaders, doc.ForwardedHeaders)
		rt, err := g.newRoute(path, r, t, old)
		if err != nil {
			return nil, err
		}
		if err := register(t.mux, r.Match, rt); err != nil {
			return nil, fmt.Errorf("gateway: %s.match: %w", path, err)
		}
	}
	t.routes = len(doc.Routes)
	t.doc = doc
	return t, nil
}

// install gives the static resolver doc's endpoint lists. It cannot fail:
// Validate checked every address.
func (g *Gateway) install(doc *Document) {
	for name, u := range doc.Upstreams {
		if cmpOr(u.Discovery, staticResolver) == staticResolver {
			if err := g.static.Set(name, staticEndpoints(u)); err != nil {
				panic("gateway: a validated endpoint list was refused: " + err.Error())
			}
		}
	}
}

// Reload makes doc the route table: requests that started before it finish
// on the old table, requests that start after it see the new one. While
// the gateway runs, the table is swapped once the pools it adds have their
// first endpoints (waiting at most 5 seconds: a pool whose registry has not
// answered by then serves 503 until it does). Pools of
// upstreams whose settings did not change are kept (with their connections);
// pools of removed or changed upstreams are closed once the old table's
// requests are done. An invalid doc is refused with an error naming the
// field, the old table stays, and the error is logged and reported as a
// ReloadFailed event.
func (g *Gateway) Reload(doc *Document) error {
	g.check()
	err := g.reload(doc)
	if err != nil {
		g.logger.LogAttrs(context.Background(), slog.LevelError, "gateway: reload refused; keeping the current routes", slog.String("gateway", g.name), slog.Any("error", err))
		if g.cfg.Observer != nil {
			g.cfg.Observer.Observe(context.Background(), ReloadFailed{Name: g.name, Err: err})
		}
	}
	return err
}

func (g *Gateway) reload(doc *Document) error {
	if doc == nil {
		return errors.New("gateway: Reload: doc must not be nil")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return bulwark.ErrClosed
	}
	old := g.table.Load()
	t, err := g.build(doc, old)
	if err != nil {
		return err
	}
	g.install(doc)
	if g.running {
		var fresh []*pool
		for name, p := range t.pools {
			if old.pools[name] != p {
				g.runPool(p)
				fresh = append(fresh, p)
			}
		}
		g.awaitReady(fresh)
		if t.verifier != nil && t.verifier != old.verifier {
			g.runVerifier(t.verifier)
		}
	}
	if old.verifier != nil && old.verifier != t.verifier {
		g.closeVerifier(old.verifier)
	}
	g.table.Store(t)
	var gone []*pool
	for name, p := range old.pools {
		if t.pools[name] != p {
			gone = append(gone, p)
		}
	}
	old.retire()
	g.closeAfter(old, gone)
	g.closeRoutersAfter(old)
	g.logger.LogAttrs(context.Background(), slog.LevelInfo, "gateway: routes reloaded", slog.String("gateway", g.name), slog.Int("routes", t.routes), slog.Int("upstreams", len(t.pools)))
	if g.cfg.Observer != nil {
		g.cfg.Observer.Observe(context.Background(), Reloaded{Name: g.name, Routes: t.routes, Upstreams: len(t.pools)})
	}
	return nil
}

// newPoolWait bounds how long a reload waits for the first endpoints of the
// pools it makes before it swaps the table.
const newPoolWait = 5 * time.Second

// awaitReady waits, up to newPoolWait in all, until each of pools has its
// resolver's first endpoint set, so that requests on the new table do not
// find a new upstream empty. A pool still waiting then (its registry is
// slow or down) is logged; its requests get 503 until it is ready.
func (g *Gateway) awaitReady(pools []*pool) {
	if len(pools) == 0 {
		return
	}
	deadline := time.NewTimer(newPoolWait)
	defer deadline.Stop()
	for _, p := range pools {
		select {
		case <-p.p.Ready():
		case <-deadline.C:
			g.logger.LogAttrs(context.Background(), slog.LevelWarn, "gateway: a new upstream has no endpoints yet; its requests get 503 until it has",
				slog.String("gateway", g.name), slog.String("upstream", p.name), slog.Duration("waited", newPoolWait))
			return
		}
	}
}

// closeAfter closes pools once t is drained (or the gateway closes). Called
// with g.mu held.
func (g *Gateway) closeAfter(t *table, pools []*pool) {
	if len(pools) == 0 {
		return
	}
	g.work.Add(1)
	go func() {
		defer g.work.Done()
		select {
		case <-t.drained:
		case <-g.stopped:
		}
		for _, p := range pools {
			if err := p.p.Close(context.Background()); err != nil {
				g.errorLog.Error("gateway: closing a pool", "upstream", p.name, "error", err)
			}
		}
	}()
}

// closeRoutersAfter closes t's strangler routers once t is drained (or the
// gateway closes), letting their shadow copies in flight finish. Called
// with g.mu held.
func (g *Gateway) closeRoutersAfter(t *table) {
	if len(t.routers) == 0 {
		return
	}
	g.work.Add(1)
	go func() {
		defer g.work.Done()
		select {
		case <-t.drained:
		case <-g.stopped:
		}
		for _, r := range t.routers {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := r.Close(ctx); err != nil {
				g.errorLog.Error("gateway: closing a strangler route", "error", err)
			}
			cancel()
		}
	}()
}

// runPool runs p until the gateway stops. Called with g.mu held while
// running.
func (g *Gateway) runPool(p *pool) {
	g.work.Add(1)
	go func() {
		defer g.work.Done()
		err := p.p.Run(g.runCtx)
		if err != nil && g.runCtx.Err() == nil && !errors.Is(err, bulwark.ErrClosed) {
			g.errorLog.Error("gateway: upstream pool stopped", "upstream", p.name, "error", err)
		}
	}()
}

// Run runs the pools of the route table (and of every table a reload
// installs) and, when Config.Source is set, applies each document it
// supplies with Reload. It blocks until ctx is done (returning ctx's error,
// wrapped) or Close is called (returning nil). A second Run returns
// bulwark.ErrRunning, a Run after Close bulwark.ErrClosed.
func (g *Gateway) Run(ctx context.Context) error {
	g.check()
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return bulwark.ErrClosed
	case g.running:
		g.mu.Unlock()
		return bulwark.ErrRunning
	}
	g.running = true
	g.runCtx, g.stop = context.WithCancel(ctx)
	runCtx := g.runCtx
	for _, p := range g.table.Load().pools {
		g.runPool(p)
	}
	if v := g.table.Load().verifier; v != nil {
		g.runVerifier(v)
	}
	g.mu.Unlock()
	defer close(g.done)

	if g.cfg.Source != nil {
		docs, err := g.cfg.Source.Watch(runCtx)
		if err != nil {
			g.stop()
			return fmt.Errorf("gateway: watching the configuration source: %w", err)
		}
		for d := range docs {
			g.apply(d.Data, d.Version, d.Err)
		}
	}
	<-runCtx.Done()
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("gateway: %w", ctx.Err())
}

// apply reloads from one document of the source.
func (g *Gateway) apply(data []byte, version string, srcErr error) {
	if srcErr != nil {
		g.errorLog.Error("gateway: configuration source failed; keeping the current routes", "error", srcErr)
		return
	}
	doc, err := Parse(data)
	if err != nil {
		g.logger.LogAttrs(context.Background(), slog.LevelError, "gateway: reload refused; keeping the current routes", slog.String("gateway", g.name), slog.String("version", version), slog.Any("error", err))
		if g.cfg.Observer != nil {
			g.cfg.Observer.Observe(context.Background(), ReloadFailed{Name: g.name, Err: err})
		}
		return
	}
	_ = g.Reload(doc)
}

// Close stops Run and the pools, and waits within ctx for them to stop. It
// does not wait for requests in flight: stop the http.Server in front first
// (Server.Shutdown). Later requests are still routed, on endpoints the
// pools last knew.
func (g *Gateway) Close(ctx context.Context) error {
	g.check()
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.stopped)
		if g.stop != nil {
			g.stop()
		}
	}
	running := g.running
	pools := g.table.Load().pools
	verifier := g.table.Load().verifier
	routers := g.table.Load().routers
	g.mu.Unlock()
	for _, r := range routers {
		if err := r.Close(ctx); err != nil {
			return fmt.Errorf("gateway: Close: %w", err)
		}
	}
	if verifier != nil {
		if err := verifier.Close(ctx); err != nil {
			return fmt.Errorf("gateway: Close: %w", err)
		}
	}
	for _, p := range pools {
		if err := p.p.Close(ctx); err != nil {
			return fmt.Errorf("gateway: Close: %w", err)
		}
	}
	finished := make(chan struct{})
	go func() {
		g.work.Wait()
		if running {
			<-g.done
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		return fmt.Errorf("gateway: Close: %w", ctx.Err())
	}
	if g.own != nil {
		g.own.CloseIdleConnections()
	}
	return nil
}

// check panics if g was not made by New.
func (g *Gateway) check() {
	if g == nil || g.static == nil {
		panic("gateway: Gateway used without New")
	}
}
