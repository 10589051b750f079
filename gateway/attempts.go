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
// response headers arrive), carries the trace context to the endpoint, and
// records the endpoint for the access log.
type attemptTransport struct {
	g    *Gateway
	base http.RoundTripper
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if info, ok := ctx.Value(infoKey{}).(*exchangeInfo); ok {
		host := req.URL.Host
		info.endpoint.Store(&host)
	}
	ctx, span := t.g.tracer.Start(ctx, req.Method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", req.URL.Host),
		attribute.String("url.full", req.URL.Redacted()),
	))
	out := req.WithContext(ctx)
	out.Header = req.Header.Clone()
	t.g.cfg.Propagator.Inject(ctx, propagation.HeaderCarrier(out.Header))
	resp, err := t.base.RoundTrip(out)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "attempt failed")
		span.End()
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, resp.Status)
	}
	span.End()
	return resp, nil
}

// CloseIdleConnections closes the base transport's idle connections.
func (t *attemptTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
