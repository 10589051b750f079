package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// route is one compiled route: its limits, its path rewriting and a
// reverse proxy whose transport runs the route's policies around the pool.
type route struct {
	g            *Gateway
	name         string
	upstream     string
	methods      []string
	allow        string // methods joined for the Allow header
	strip        string
	rewrite      string
	preserveHost bool
	maxBody      int64
	maxHeader    int
	proxy        *httputil.ReverseProxy
	handler      http.Handler // auth and limits in front of forward
}

func (g *Gateway) newRoute(path string, r Route, t, old *table) (*route, error) {
	p := t.pools[r.Upstream]
	policy, err := g.routePolicy(path, r)
	if err != nil {
		return nil, err
	}
	tr, err := bulwarkhttp.NewTransport(policy, bulwarkhttp.TransportConfig{Base: p.p, Clock: g.cfg.Clock})
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	rt := &route{
		g:            g,
		name:         r.routeName(),
		upstream:     r.Upstream,
		methods:      slices.Clone(r.Methods),
		allow:        strings.Join(r.Methods, ", "),
		strip:        r.StripPrefix,
		rewrite:      r.RewritePrefix,
		preserveHost: r.PreserveHost,
		maxBody:      r.MaxBodyBytes,
		maxHeader:    r.MaxHeaderBytes,
	}
	if rt.maxBody == 0 {
		rt.maxBody = defaultMaxBodyBytes
	}
	if rt.maxHeader == 0 {
		rt.maxHeader = defaultMaxHeaderBytes
	}
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:      rt.rewriteRequest,
		Transport:    tr,
		ErrorHandler: g.proxyError,
		ErrorLog:     slog.NewLogLogger(g.errorLog.Handler(), slog.LevelWarn),
	}
	if rt.handler, err = g.guard(path, r, http.HandlerFunc(rt.forward), t, old); err != nil {
		return nil, err
	}
	return rt, nil
}

// ServeHTTP runs the route's auth and limits, then forward.
func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.handler.ServeHTTP(w, r)
}

// forward enforces the route's method list and size limits and proxies
// the request.
func (rt *route) forward(w http.ResponseWriter, r *http.Request) {
	if len(rt.methods) > 0 && !slices.Contains(rt.methods, r.Method) {
		w.Header().Set("Allow", rt.allow)
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusMethodNotAllowed, Detail: "This route does not accept method " + r.Method + "."})
		return
	}
	if rt.maxHeader != Unlimited && headerSize(r) > rt.maxHeader {
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusRequestHeaderFieldsTooLarge, Detail: fmt.Sprintf("The request's header fields exceed %d bytes.", rt.maxHeader)})
		return
	}
	if rt.maxBody != Unlimited && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > rt.maxBody {
			bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("The request body exceeds %d bytes.", rt.maxBody)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
	}
	// r's context is one call (upstream.NewCall, set in ServeHTTP): its
	// retries go to endpoints its earlier attempts did not.
	rt.proxy.ServeHTTP(w, r)
}

// headerSize is the size of r's header fields as they were sent: names,
// values and the separators between them.
func headerSize(r *http.Request) int {
	n := len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	return n
}

// rewriteRequest makes the outbound request: the pool fills in the
// endpoint; the route rewrites the path, sets the Host and the forwarding
// headers.
func (rt *route) rewriteRequest(pr *httputil.ProxyRequest) {
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = rt.upstream
	rewritePath(out.URL, rt.strip, rt.rewrite)
	if rt.preserveHost {
		out.Host = pr.In.Host
	} else {
		out.Host = ""
	}
	rt.g.setForwarded(pr)
}
