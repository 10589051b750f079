package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderRequestID carries a request's id: kept when the client sent a
// well-formed one, generated otherwise, sent to the upstream and returned
// to the client.
const HeaderRequestID = "X-Request-Id"

// exchangeInfo is what the handling of one request learns on the way, for
// its span, access log and Served event.
type exchangeInfo struct {
	route, upstream string
	endpoint        atomic.Pointer[string] // the last attempt's
}

type infoKey struct{}

func (i *exchangeInfo) endpointAddr() string {
	if p := i.endpoint.Load(); p != nil {
		return *p
	}
	return ""
}

// ServeHTTP routes r: a server span (continuing the trace context the
// client sent), a request id, the route's limits and policies, and the
// upstream's answer or a problem+json error: 400 for a path with dot
// segments, 404 for no route, 405 with Allow for a method the route does not
// take, 413 and 431 beyond the route's limits, 502 when the upstream
// failed, 503 when no endpoint was available or a policy refused the
// request, 504 when it timed out. Requests in proxy form (an absolute URI,
// as clients with HTTP_PROXY send) are routed by their host like any other.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.check()
	start := g.clock.Now()
	id := r.Header.Get(HeaderRequestID)
	if !validRequestID(id) {
		id = uuid.NewString()
		r.Header.Set(HeaderRequestID, id)
	}
	w.Header().Set(HeaderRequestID, id)

	ctx := g.cfg.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := g.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
		attribute.String("server.address", r.Host),
		attribute.String("http.request.header.x-request-id", id),
	))
	info := &exchangeInfo{}
	ctx = context.WithValue(ctx, infoKey{}, info)
	sw := &statusWriter{ResponseWriter: w}
	t := g.acquire()
	g.serve(sw, r.WithContext(ctx), t, info)
	t.release()

	status := sw.code()
	d := g.clock.Now().Sub(start)
	if info.route != "" {
		span.SetName(r.Method + " " + info.route)
		span.SetAttributes(attribute.String("http.route", info.route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
	g.logger.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.String("route", info.route), slog.String("upstream", info.upstream), slog.String("endpoint", info.endpointAddr()),
		slog.Int("status", status), slog.Duration("duration", d))
	if g.cfg.Observer != nil {
		g.cfg.Observer.Observe(ctx, Served{Name: g.name, Route: info.route, Upstream: info.upstream, Endpoint: info.endpointAddr(), Method: r.Method, Status: status, Duration: d})
	}
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, t *table, info *exchangeInfo) {
	if r.Method == http.MethodConnect {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusMethodNotAllowed, Detail: "The gateway does not open tunnels (CONNECT); send http:// requests, and let an upstream's scheme say https."})
		return
	}
	if hasDotSegment(r.URL.Path) {
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusBadRequest, Detail: "The path holds a \".\" or \"..\" segment (perhaps percent-encoded)."})
		return
	}
	h, _ := t.mux.Handler(r)
	rt, ok := h.(*route)
	if !ok {
		unrouted(w, r, h)
		return
	}
	info.route, info.upstream = rt.name, rt.upstream
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
