package gateway

import (
	"fmt"
	"net/http"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/gateway/compose"
	"github.com/bulwark-go/bulwark/gateway/strangler"
)

// composeTarget makes the handler of a compose route: each part's
// upstream is its pool behind a chain of the route's policies of its own
// (named route/upstream), so one failing upstream opens its own breaker,
// not its neighbours'.
func (g *Gateway) composeTarget(path string, r Route, t *table) (http.Handler, error) {
	transports := map[string]http.RoundTripper{}
	for _, part := range r.Compose.Parts {
		if _, done := transports[part.Upstream]; done {
			continue
		}
		side := r
		side.Name = r.routeName() + "/" + part.Upstream
		policy, err := g.routePolicy(path, side)
		if err != nil {
			return nil, err
		}
		tr, err := bulwarkhttp.NewTransport(policy, bulwarkhttp.TransportConfig{Base: t.pools[part.Upstream].p, Clock: g.cfg.Clock})
		if err != nil {
			return nil, fmt.Errorf("gateway: %s: %w", path, err)
		}
		transports[part.Upstream] = tr
	}
	cfg := *r.Compose
	cfg.Name, cfg.Observer, cfg.Clock = r.routeName(), g.cfg.Observer, g.cfg.Clock
	h, err := compose.New(transports, cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s.compose: %w", path, err)
	}
	return h, nil
}

// stranglerTarget makes the handler of a strangler route: the legacy side
// is the route's proxy to its Upstream, the new side a proxy of the same
// route (policies, rewriting, forwarding headers) to Strangler.New. The
// Router is closed when the table it belongs to is retired.
func (g *Gateway) stranglerTarget(path string, r Route, t *table, rt *route) (http.Handler, error) {
	legacy, err := g.newProxy(path, r, rt, t)
	if err != nil {
		return nil, err
	}
	side := *rt
	side.upstream = r.Strangler.New
	modern, err := g.newProxy(path, r, &side, t)
	if err != nil {
		return nil, err
	}
	rt.proxy = legacy
	cfg := r.Strangler.Config
	cfg.Name, cfg.Observer, cfg.Proxies = r.routeName(), g.cfg.Observer, g.cfg.Proxies
	router, err := strangler.New(proxyTarget(legacy), proxyTarget(modern), cfg)
	if err != nil {
		return nil, fmt.Errorf("gateway: %s.strangler: %w", path, err)
	}
	t.routers = append(t.routers, router)
	return router, nil
}
