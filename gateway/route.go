package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"

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
	literal      bool         // the pattern has no wildcard, so no path values
	fwdStyle     forwardStyle // the forwarding headers written
	maxBody      int64
	maxHeader    int
	proxy        *httputil.ReverseProxy // nil on compose and strangler routes
	target       http.Handler           // what forward hands a checked request to
	handler      http.Handler           // auth and limits in front of forward
}

func (g *Gateway) newRoute(path string, r Route, t, old *table) (*route, error) {
	rt := &route{
		g:            g,
		name:         r.routeName(),
		upstream:     r.Upstream,
		methods:      slices.Clone(r.Methods),
		allow:        strings.Join(r.Methods, ", "),
		strip:        r.StripPrefix,
		rewrite:      r.RewritePrefix,
		preserveHost: r.PreserveHost,
		literal:      !strings.Contains(r.Match, "{"),
		fwdStyle:     forwardDefault,
		maxBody:      r.MaxBodyBytes,
		maxHeader:    r.MaxHeaderBytes,
	}
	if s, ok := parseForwardStyle(r.ForwardedHeaders); ok {
		rt.fwdStyle = s
	}
	if rt.maxBody == 0 {
		rt.maxBody = defaultMaxBodyBytes
	}
	if rt.maxHeader == 0 {
		rt.maxHeader = defaultMaxHeaderBytes
	}
	var err error
	switch {
	case r.Compose != nil:
		rt.target, err = g.composeTarget(path, r, t)
	case r.Strangler != nil:
		rt.target, err = g.stranglerTarget(path, r, t, rt)
	default:
		if rt.proxy, err = g.newProxy(path, r, rt, t); err == nil {
			rt.target = proxyTarget(rt.proxy)
		}
	}
	if err != nil {
		return nil, err
	}
	if rt.handler, err = g.guard(path, r, http.HandlerFunc(rt.forward), t, old); err != nil {
		return nil, err
	}
	return rt, nil
}

// newProxy makes the reverse proxy that sends a route's requests to the
// upstream side.upstream names, through the route's policy chain around its
// pool.
func (g *Gateway) newProxy(path string, r Route, side *route, t *table) (*httputil.ReverseProxy, error) {
	p := t.pools[side.upstream]
	policy, err := g.routePolicy(path, r)
	if err != nil {
		return nil, err
	}
	tr, err := bulwarkhttp.NewTransport(policy, bulwarkhttp.TransportConfig{Base: p.p, Clock: g.cfg.Clock})
	if err != nil {
		return nil, fmt.Errorf("gateway: %s: %w", path, err)
	}
	return &httputil.ReverseProxy{
		Rewrite:      side.rewriteRequest,
		Transport:    tr,
		BufferPool:   copyBuffers,
		ErrorHandler: g.proxyError,
		ErrorLog:     slog.NewLogLogger(g.errorLog.Handler(), slog.LevelWarn),
	}, nil
}

// copyBuffers lends the proxies their 32 KiB copy buffers, which a
// ReverseProxy without a BufferPool allocates for every response.
var copyBuffers httputil.BufferPool = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// proxyTarget sends each request through proxy. The request's context is
// already one upstream call (ServeHTTP makes it so), whose retries go to
// endpoints its earlier attempts did not.
func proxyTarget(proxy *httputil.ReverseProxy) http.Handler { return proxy }

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
	rt.target.ServeHTTP(w, r)
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
	rt.g.setForwarded(pr, rt.fwdStyle)
}
