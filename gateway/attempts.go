package gateway

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// attemptTransport is the transport of every pool: each attempt, once the
// pool has chosen its endpoint, gets a client span (ended when the
// response headers arrive; none on a no-op tracer provider), carries the
// trace context to the endpoint, and records the endpoint for the access
// log.
type attemptTransport struct {
	g    *Gateway
	base http.RoundTripper
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if x := exchangeOf(ctx); x != nil {
		x.setEndpoint(req.URL.Host)
	}
	var span trace.Span
	out := req
	if t.g.spans() {
		ctx, span = t.g.tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Host),
			attribute.String("url.full", req.URL.Redacted()),
		))
		out = req.WithContext(ctx)
	}
	// The header is shared with the request's other attempts: it is copied
	// before the propagator writes to it, and only then.
	c := &injectCarrier{req: out, own: out != req}
	t.g.cfg.Propagator.Inject(ctx, c)
	resp, err := t.base.RoundTrip(c.req)
	if err != nil {
		if span != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "attempt failed")
			span.End()
		}
		return nil, err
	}
	if span != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 {
			span.SetStatus(codes.Error, resp.Status)
		}
		span.End()
	}
	return resp, nil
}

// injectCarrier is the carrier a propagator writes an attempt's trace
// context into. The attempt's header is shared with the request's other
// attempts, so on the first Set the carrier gives the attempt a request of
// its own with a copy of the header: no attempt writes to a header another
// may still be sending, and a propagator that writes nothing costs no copy.
type injectCarrier struct {
	req    *http.Request
	own    bool // req is already the attempt's own shallow copy
	copied bool // req.Header is the attempt's own copy
}

var _ propagation.TextMapCarrier = (*injectCarrier)(nil)

func (c *injectCarrier) Get(key string) string { return c.req.Header.Get(key) }

func (c *injectCarrier) Set(key, value string) {
	if !c.copied {
		if !c.own {
			r := *c.req
			c.req = &r
		}
		h := c.req.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		c.req.Header = h
		c.copied = true
	}
	c.req.Header.Set(key, value)
}

func (c *injectCarrier) Keys() []string { return propagation.HeaderCarrier(c.req.Header).Keys() }

// CloseIdleConnections closes the base transport's idle connections.
func (t *attemptTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
