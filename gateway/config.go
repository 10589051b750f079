package gateway

import (
	"log/slog"
	"net/http"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/ratelimit"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Config holds a Gateway's optional collaborators. The zero Config is the
// default: static discovery only, no configuration source, no trusted
// proxies, no Go policies, no observer, slog.Default, the system clock and
// the global OpenTelemetry tracer provider and propagator.
type Config struct {
	// Name is the Component of the gateway's own events; "" means
	// "gateway".
	Name string
	// Resolvers are the discovery resolvers an upstream may name in its
	// discovery setting, by name. "static" is reserved: every Gateway has
	// a static resolver serving the document's endpoint lists.
	Resolvers map[string]discovery.Resolver
	// Source, when set, supplies new documents while Run runs: each one
	// is parsed and applied with Reload (an invalid one is refused and
	// logged, and the table stays). nil means the table changes only by
	// Reload.
	Source configsource.Source
	// Proxies are the proxies in front of the gateway whose forwarding
	// headers (X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, or
	// Forwarded: those of the style the route writes, its
	// forwarded_headers) are passed on and appended to; from any other
	// peer they are dropped and set afresh. The zero Proxies trusts no
	// peer.
	Proxies bulwarkhttp.Proxies
	// Policies are Go policies a route may name in its policy setting, run
	// outermost in that route's chain.
	Policies map[string]bulwark.Policy
	// Observer receives the gateway's events (Reloaded, ReloadFailed,
	// Served) and those of every route's policies, whose Component is the
	// route's name. nil observes nothing.
	Observer bulwark.Observer
	// Logger receives the access log (one Info record per request) and
	// reload and upstream errors; nil means slog.Default().
	Logger *slog.Logger
	// Clock is the time source of the policies and of request durations;
	// nil means clock.System.
	Clock clock.Clock
	// TracerProvider makes the server span of each request and the client
	// span of each attempt; nil means the global provider
	// (otel.GetTracerProvider).
	TracerProvider trace.TracerProvider
	// Propagator reads the trace context of incoming requests and writes
	// it into every attempt; nil means the global propagator
	// (otel.GetTextMapPropagator).
	Propagator propagation.TextMapPropagator
	// RateLimitStore, when set, holds the state of the routes' per-client
	// limits (their limits sections) instead of memory, so that every
	// gateway process sharing it enforces one limit: a Redis store of
	// adapters/redis/redisratelimit, say. Each window's keys get the prefix
	// "<Name>:<route>:<window>:". nil keeps them in memory, per process.
	RateLimitStore ratelimit.Store
	// Transport sends every attempt to its endpoint; nil means an
	// http.Transport of the gateway's own, tuned for many requests to few
	// hosts and closed by Close.
	Transport http.RoundTripper
}
