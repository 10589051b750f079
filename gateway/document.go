package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bulwark-go/bulwark/gateway/compose"
	"github.com/bulwark-go/bulwark/gateway/strangler"
	"io"

	"sigs.k8s.io/yaml"
)

// Unlimited turns a size limit off: Route.MaxBodyBytes or
// Route.MaxHeaderBytes set to Unlimited accepts any size (the server's own
// limits still apply).
const Unlimited = -1

// Document is the whole configuration of a Gateway: its upstreams, its
// routes and the token issuers they trust. Parse reads one from YAML or JSON; Go programs may build one as a
// literal. New and Reload validate it (Validate) before using it.
type Document struct {
	// Upstreams are the services requests are sent to, by name.
	Upstreams map[string]Upstream `json:"upstreams"`
	// Routes map requests to upstreams. A request goes to the route whose
	// pattern matches it most specifically, as with http.ServeMux.
	Routes []Route `json:"routes"`
	// ForwardedHeaders chooses the forwarding headers written on every
	// request a route proxies upstream (on both sides of a strangler
	// route; a compose route's parts get none), for the routes that do not
	// choose their own:
	// "x-forwarded" (the default: X-Forwarded-For, X-Forwarded-Host and
	// X-Forwarded-Proto), "rfc7239" (the Forwarded header of RFC 7239) or
	// "both". The incoming headers of both styles are removed unless the
	// peer is one of Config.Proxies, whose headers of the style written
	// are appended to; those of a style not written never pass.
	ForwardedHeaders string `json:"forwarded_headers,omitempty"`
	// JWT, when set, lists the token issuers that routes with an auth
	// section accept.
	JWT *JWT `json:"jwt,omitempty"`
}

// Upstream is one service and how to find and call its endpoints.
type Upstream struct {
	// Discovery names the resolver that finds the endpoints: "static" (the
	// default: the Endpoints listed here) or a key of Config.Resolvers.
	Discovery string `json:"discovery,omitempty"`
	// Service is the name the resolver is asked for; "" means the
	// upstream's own name.
	Service string `json:"service,omitempty"`
	// Endpoints lists "host:port" addresses, with static discovery only
	// (where at least one is required).
	Endpoints []string `json:"endpoints,omitempty"`
	// Scheme is "http" (the default) or "https".
	Scheme string `json:"scheme,omitempty"`
	// Balancer chooses an endpoint per request: "round_robin" (the
	// default) or "least_outstanding" (power of two choices on the
	// requests in flight).
	Balancer string `json:"balancer,omitempty"`
	// HealthCheck, when set, probes every endpoint and sends requests only
	// to those that answer.
	HealthCheck *HealthCheck `json:"health_check,omitempty"`
	// Outlier, when set, ejects an endpoint that fails repeatedly for a
	// while.
	Outlier *Outlier `json:"outlier,omitempty"`
}

// HealthCheck is an active health check: a GET of Path on every endpoint
// every Interval; a 2xx answer within Timeout is healthy.
type HealthCheck struct {
	// Path is the path probed, starting with "/".
	Path string `json:"path"`
	// Interval is the time between probes, in [100ms, 1h]; 0 means 10s.
	Interval Duration `json:"interval,omitempty"`
	// Timeout bounds one probe, in [1ms, Interval]; 0 means 2s or
	// Interval when that is shorter.
	Timeout Duration `json:"timeout,omitempty"`
	// HealthyThreshold is how many probes in a row must pass to bring an
	// endpoint back, in [1, 100]; 0 means 2.
	HealthyThreshold int `json:"healthy_threshold,omitempty"`
	// UnhealthyThreshold is how many probes in a row must fail to take an
	// endpoint out, in [1, 100]; 0 means 3.
	UnhealthyThreshold int `json:"unhealthy_threshold,omitempty"`
}

// Outlier is passive outlier ejection: an endpoint whose requests fail
// ConsecutiveFailures times in a row is ejected for EjectionTime, and never
// more than MaxEjectedPercent of the pool at once.
type Outlier struct {
	// ConsecutiveFailures is the failures in a row that eject an endpoint,
	// in [1, 1000]; 0 means 5.
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// EjectionTime is how long an ejected endpoint stays out, in [1ms,
	// 1h]; 0 means 30s.
	EjectionTime Duration `json:"ejection_time,omitempty"`
	// MaxEjectedPercent caps the share of the pool ejected at once, in [1,
	// 100]; 0 means 50.
	MaxEjectedPercent int `json:"max_ejected_percent,omitempty"`
}

// Route sends the requests its pattern matches to an upstream, through its
// policies.
type Route struct {
	// Name names the route in logs, spans and the events of its policies;
	// "" means the Match pattern. Names are unique within a document.
	Name string `json:"name,omitempty"`
	// Match is an http.ServeMux pattern: "[METHOD ][HOST]/PATH", such as
	// "GET api.example.com/orders/{id}" or "/static/".
	Match string `json:"match"`
	// Methods, when not empty, lists the methods the route accepts; any
	// other gets 405 Method Not Allowed with an Allow header. A pattern
	// with a method and Methods together are refused.
	Methods []string `json:"methods,omitempty"`
	// Upstream names the upstream (a key of Document.Upstreams); with
	// Strangler, the legacy side. Required unless the route has Compose.
	Upstream string `json:"upstream,omitempty"`
	// StripPrefix is removed from the start of the path before the request
	// is sent on; the pattern's path must begin with it.
	StripPrefix string `json:"strip_prefix,omitempty"`
	// RewritePrefix is put in front of the path (after StripPrefix was
	// removed): strip "/api" and rewrite "/v2" send "/api/orders" as
	// "/v2/orders".
	RewritePrefix string `json:"rewrite_prefix,omitempty"`
	// PreserveHost sends the client's Host header on; by default the
	// endpoint's address is the Host.
	PreserveHost bool `json:"preserve_host,omitempty"`
	// ForwardedHeaders chooses this route's forwarding headers, as
	// Document.ForwardedHeaders does; "" means the document's.
	ForwardedHeaders string `json:"forwarded_headers,omitempty"`
	// Timeout bounds the time until the upstream's response headers
	// arrive, retries included, in [1ms, 1h]; 0 sets no limit. A
	// streaming response may then run as long as the client stays.
	Timeout Duration `json:"timeout,omitempty"`
	// MaxBodyBytes is the largest request body accepted (413 Content Too
	// Large beyond): Unlimited or in [1, 2⁴⁰]; 0 means 10 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxHeaderBytes is the largest total size of the request's header
	// fields (names and values; 431 Request Header Fields Too Large
	// beyond): Unlimited or in [1, 2²⁰]; 0 means 32 KiB.
	MaxHeaderBytes int `json:"max_header_bytes,omitempty"`
	// Policies are the declarative policies of the route.
	Policies Policies `json:"policies,omitempty"`
	// Policy names a Go policy in Config.Policies, run outside the
	// declarative ones; "" means none.
	Policy string `json:"policy,omitempty"`
	// Auth, when set, lets only requests with a valid token of the
	// document's jwt section through; it runs first.
	Auth *Auth `json:"auth,omitempty"`
	// Limits, when set, holds each client to per-client rate limits; they
	// run after Auth and before the route's policies.
	Limits *Limits `json:"limits,omitempty"`
	// Compose, when set, answers the route by calling several upstreams
	// (each part names one of Document.Upstreams) and merging their JSON
	// answers (see package compose); the route then has no Upstream, and
	// each part's calls run through the route's policies, a chain per
	// upstream.
	Compose *compose.Config `json:"compose,omitempty"`
	// Strangler, when set, moves the route from its Upstream (the legacy
	// side) to Strangler.New by weight, override or shadowing (see package
	// strangler); a reload with another weight applies it to the requests
	// that come after.
	Strangler *StranglerRoute `json:"strangler,omitempty"`
}

// StranglerRoute is a route's strangler-fig split: the new side's upstream
// and the strangler's settings (mode, weight, stickiness, overrides,
// shadow), at the same level of the document.
type StranglerRoute struct {
	// New names the upstream that takes the route over; required, and not
	// the route's Upstream.
	New string `json:"new"`
	strangler.Config
}

// Policies are a route's declarative policies. They run, outermost first:
// rate limit, bulkhead, timeout (Route.Timeout), breaker, retry; so the
// breaker counts calls, each a whole round of retries over the pool's
// endpoints, and an open breaker refuses a call before any attempt.
type Policies struct {
	// Retry, when set, retries failed attempts of replayable requests.
	Retry *Retry `json:"retry,omitempty"`
	// Breaker, when set, stops calling an upstream that keeps failing.
	Breaker *Breaker `json:"breaker,omitempty"`
	// Bulkhead, when set, caps the route's requests in flight.
	Bulkhead *Bulkhead `json:"bulkhead,omitempty"`
	// RateLimit, when set, caps the route's request rate.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// Retry retries failed attempts (a transport error, a 5xx or 429 answer) of
// requests that are safe to send twice: idempotent methods, or a request
// with an Idempotency-Key, without a body.
type Retry struct {
	// MaxAttempts is the most attempts, the first included, in [1, 10]; 0
	// means 3.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Backoff is the first wait, doubled after each attempt with full
	// jitter, in [1ms, 1m]; 0 means 100ms.
	Backoff Duration `json:"backoff,omitempty"`
	// MaxDelay caps each wait, in [Backoff, 5m]; 0 means 2s.
	MaxDelay Duration `json:"max_delay,omitempty"`
	// AttemptTimeout bounds each attempt until its response headers, in
	// [1ms, 1h]; 0 sets no limit per attempt.
	AttemptTimeout Duration `json:"attempt_timeout,omitempty"`
}

// Breaker is a circuit breaker over the route's attempts: it opens when
// the failure rate of the last Window attempts reaches FailureRate percent
// (once MinimumCalls were made), or after ConsecutiveFailures.
type Breaker struct {
	// Window is the number of recent attempts the rate is computed over,
	// in [1, 10000]; 0 means 100.
	Window int `json:"window,omitempty"`
	// FailureRate is the failure percentage that opens the breaker, in
	// (0, 100]; 0 means 50.
	FailureRate float64 `json:"failure_rate,omitempty"`
	// MinimumCalls is the attempts needed before the rate counts, in [1,
	// Window]; 0 means 20 or Window when smaller.
	MinimumCalls int `json:"minimum_calls,omitempty"`
	// ConsecutiveFailures, when > 0, also opens the breaker after that many
	// failures in a row, in [1, 10000].
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// OpenWait is how long the breaker stays open before it probes, in
	// [1ms, 1h]; 0 means 10s.
	OpenWait Duration `json:"open_wait,omitempty"`
}

// Bulkhead caps the requests of the route waiting for their upstream's
// response headers at once.
type Bulkhead struct {
	// MaxConcurrent is the most requests at once, in [1, 1e6]; required.
	MaxConcurrent int `json:"max_concurrent"`
	// MaxWaiting is how many more may queue for a slot, in [0, 1e6].
	MaxWaiting int `json:"max_waiting,omitempty"`
	// MaxWait is the longest a request queues, in [1ms, 1m]; 0 means
	// 100ms.
	MaxWait Duration `json:"max_wait,omitempty"`
}

// RateLimit admits at most Limit requests per Period to the route (a token
// bucket with Burst), answering 429 with Retry-After beyond.
type RateLimit struct {
	// Limit is the requests per Period, in [1, 1e9]; required.
	Limit int `json:"limit"`
	// Period is the time Limit applies to, in [1ms, 24h]; 0 means 1s.
	Period Duration `json:"period,omitempty"`
	// Burst is the most requests admitted at once, in [1, 1e9]; 0 means
	// Limit.
	Burst int `json:"burst,omitempty"`
}

// Parse reads a Document from YAML or JSON (JSON is YAML), refuses fields
// it does not know and duplicate keys, and validates the result (Validate).
func Parse(data []byte) (*Document, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("gateway: document: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil, errors.New("gateway: document: empty")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("gateway: document: empty")
		}
		return nil, fmt.Errorf("gateway: document: %w", err)
	}
	if dec.More() {
		return nil, errors.New("gateway: document: more than one document")
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return &doc, nil
}
