package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderRequestID carries a request's id: kept when the client sent a
// well-formed one, generated otherwise, sent to the upstream and returned
// to the client.
const HeaderRequestID = "X-Request-Id"

// exchange is one request's handling: its context (carrying the
// exchange, for the attempts to record their endpoint), the status writer
// in front of the client's ResponseWriter, and what the handling learns on
// the way, for its span, access log and Served event. One allocation holds
// all three.
type exchange struct {
	context.Context
	statusWriter
	route, upstream string
	mu              sync.Mutex
	endpoint        string // the last attempt's
}

type infoKey struct{}

// Value returns the exchange itself for infoKey, and otherwise what the
// parent context holds.
func (x *exchange) Value(key any) any {
	if key == (infoKey{}) {
		return x
	}
	return x.Context.Value(key)
}

// exchangeOf returns the exchange ctx was made for; nil outside one.
func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(infoKey{}).(*exchange)
	return x
}

func (x *exchange) setEndpoint(addr string) {
	x.mu.Lock()
	x.endpoint = addr
	x.mu.Unlock()
}

func (x *exchange) endpointAddr() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.endpoint
}

// ServeHTTP routes r: a server span (continuing the trace context the
// client sent), a request id, the route's limits and policies, and the
// upstream's answer or a problem+json error: 400 for a path with dot
// segments, 404 for no route, 405 with Allow for a method the route does not
// take, 413 and 431 beyond the route's limits, 502 when the upstream
// failed, 503 when no endpoint was available or a policy refused the
// request, 504 when it timed out. Requests in proxy form (an absolute URI,
// as clients with HTTP_PROXY send) are routed by their host like any other.
//
// When the tracer provider is a no-op one (the global provider before one
// is set, or a noop.TracerProvider) no spans are started: the trace context
// the client sent is still passed on to the upstream.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.check()
	start := g.clock.Now()
	id := r.Header.Get(HeaderRequestID)
	// One slice of capacity 1 for both headers: an Add to either makes
	// that header a slice of its own.
	ids := []string{id}
	if !validRequestID(id) {
		id = newRequestID()
		ids[0] = id
		r.Header[HeaderRequestID] = ids
	}
	w.Header()[HeaderRequestID] = ids

	ctx := g.cfg.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	var span trace.Span
	if g.spans() {
		ctx, span = g.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("server.address", r.Host),
			attribute.String("http.request.header.x-request-id", id),
		))
	}
	x := &exchange{Context: ctx, statusWriter: statusWriter{ResponseWriter: w}}
	// One call: its retries go to endpoints its earlier attempts did not.
	ctx = upstream.NewCall(x)
	t := g.acquire()
	g.serve(&x.statusWriter, r.WithContext(ctx), t, x)
	t.release()

	status := x.code()
	d := g.clock.Now().Sub(start)
	if span != nil {
		if x.route != "" {
			span.SetName(r.Method + " " + x.route)
			span.SetAttributes(attribute.String("http.route", x.route))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
	if g.logger.Enabled(ctx, slog.LevelInfo) {
		g.logger.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("route", x.route), slog.String("upstream", x.upstream), slog.String("endpoint", x.endpointAddr()),
			slog.Int("status", status), slog.Duration("duration", d))
	}
	if g.cfg.Observer != nil {
		g.cfg.Observer.Observe(ctx, Served{Name: g.name, Route: x.route, Upstream: x.upstream, Endpoint: x.endpointAddr(), Method: r.Method, Status: status, Duration: d})
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, t *table, info *exchange) {
	if r.Method == http.MethodConnect {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusMethodNotAllowed, Detail: "The gateway does not open tunnels (CONNECT); send http:// requests, and let an upstream's scheme say https."})
		return
	}
	if hasDotSegment(r.URL.Path) {
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusBadRequest, Detail: "The path holds a \".\" or \"..\" segment (perhaps percent-encoded)."})
		return
	}
	h, pattern := t.mux.Handler(r)
	rt, ok := h.(*route)
	if !ok {
		unrouted(w, r, h)
		return
	}
	info.route, info.upstream = rt.name, rt.upstream
	if rt.literal {
		// A pattern without wildcards has no path values: setting its
		// Pattern is all the mux would do, without matching r again.
		r.Pattern = pattern
		rt.ServeHTTP(w, r)
		return
	}
	// Through the mux, which finds rt again and sets the request's path
	// values ({id}) and Pattern, as Handler does not: a compose part's path
	// and the route's own handlers read them.
	t.mux.ServeHTTP(w, r)
}

// unrouted answers a request no route matched, as ServeMux's handler h
// would (a redirect to the cleaned path, 404, or 405 with Allow), but with
// problem+json bodies.
func unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusNotFound, Detail: "No route matches this request."})
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusMethodNotAllowed, Detail: "No route takes method " + r.Method + " for this path."})
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
	}
}

// proxyError answers a request whose upstream exchange failed: the
// policy's or the pool's refusal (503 with Retry-After), a timeout (504), a
// body over the route's limit (413), or an upstream that could not be
// reached or broke off (502).
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusRequestEntityTooLarge, Detail: "The request body exceeds the route's limit."})
		return
	}
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away: nobody reads this answer; it records the
		// outcome in the access log.
		w.WriteHeader(499)
		return
	}
	p := bulwarkhttp.ProblemFor(err)
	if p.Status == http.StatusInternalServerError {
		p = bulwarkhttp.Problem{Status: http.StatusBadGateway, Detail: "The upstream could not be reached or failed to answer."}
	}
	g.errorLog.LogAttrs(r.Context(), slog.LevelWarn, "gateway: upstream exchange failed", slog.String("request_id", r.Header.Get(HeaderRequestID)), slog.Int("status", p.Status), slog.Any("error", err))
	bulwarkhttp.WriteProblem(w, p)
}

// validRequestID accepts ids of 1 to 128 visible ASCII characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
