// Package gateway is an API gateway as an http.Handler: one entry point that
// routes each request to the service that owns it, through bulwark's
// policies, over pools of endpoints found by service discovery, with its
// route table reloaded at run time from a configuration document.
//
// It is a library first (embed a Gateway in your own server, build its
// Document in Go or Parse it), and the command bulwark-gateway
// (cmd/bulwark-gateway) serves one from a configuration file, at the edge or
// beside one service as its egress proxy (sidecar).
//
// # The document
//
// A Document (YAML or JSON, read with Parse) declares upstreams and routes:
//
//	upstreams:
//	  orders:
//	    discovery: static            # the default; or a key of Config.Resolvers
//	    endpoints: ["10.0.0.1:8080", "10.0.0.2:8080"]
//	    scheme: http                 # or https
//	routes:
//	  - match: "GET api.example.com/api/orders/{id}"   # an http.ServeMux pattern
//	    upstream: orders
//	    strip_prefix: /api           # /api/orders/7 is sent as /orders/7
//	    timeout: 2s                  # until the response headers, retries included
//	    max_body_bytes: 1048576      # 413 beyond; the default is 10 MiB
//	    policies:
//	      retry: {max_attempts: 3, backoff: 100ms}
//	      breaker: {failure_rate: 50, open_wait: 10s}
//	      bulkhead: {max_concurrent: 100}
//	      rate_limit: {limit: 1000, period: 1s}
//	    auth:                        # needs the jwt section below
//	      scopes: [orders:read]
//	      required_claims: [tenant]
//	      forward_claims: {sub: X-User-Id}
//	      forward_token: false       # the default: the upstream gets no Authorization
//	    limits:                      # per client, after auth
//	      key_by: [subject, ip]      # or api_key
//	      windows: [{name: burst, limit: 10, period: 1s}, {name: daily, limit: 10000, period: 24h}]
//	      cost: 1
//	jwt:
//	  issuers:
//	    - iss: https://id.example.com
//	      jwks_url: https://id.example.com/.well-known/jwks.json
//	      algorithms: [RS256]
//	      audiences: [orders-api]
//	  cache_size: 4096               # verified tokens remembered; -1: none
//
// Parse refuses unknown fields and duplicate keys, takes durations as
// strings ("2s"), and validates the whole document: every error names the
// field and the allowed range ("routes[2].timeout: must be 0 (no limit) or
// in [1ms, 1h0m0s], got -1s").
//
// # Authentication and per-client limits
//
// The jwt section makes one jwtauth.Verifier, shared by every route with
// an auth section and run with the gateway (Run refreshes its key sets,
// Close stops it); a reload makes a new one only when the section changed,
// so the cached key sets and verified tokens survive other reloads. The
// Verifier remembers up to jwt.cache_size verified tokens (4096 when 0, none
// when -1): the same token again skips decoding and the signature check,
// with exp and nbf checked on every request and every remembered token of
// an issuer verified again once its key set changes (see jwtauth). A route runs, in order:
// its auth (a jwtauth.Route: 401 without a valid token, 403 without a
// scope; forwarded-claim headers the client sent are removed; with
// required: false a request without an Authorization header passes
// anonymously, and one with it must carry a valid token), its limits (a clientlimit.Limiter, which sees the subject
// auth verified), then everything below. Limit windows live in memory, or
// in Config.RateLimitStore (Redis, say) shared by every gateway process;
// a reload keeps the windows of limits that did not change.
//
// The upstream of a route with auth gets the request without its
// Authorization header once the token is verified, as with Envoy's
// jwt_authn (whose "forward" is off by default): forward_claims tell it
// who the caller is, and the bearer token, a credential it could replay,
// stays at the gateway. auth.forward_token: true sends the header on, for
// an upstream that checks the token itself or passes it on (a composed
// route's parts that list Authorization in headers need it, and the
// document is refused without it). An anonymous request on a route with
// required: false has no Authorization header to remove.
//
// # Composed and strangled routes
//
// A route with compose (a compose.Config) answers by calling several
// upstreams and merging their JSON: each part names an upstream of the
// document, its path may use the request's path values ({id}) and earlier
// parts' fields ({order.customer_id}), and a part that fails is omitted,
// replaced by a fallback or fails the request, a partial answer being
// marked (X-Partial and "_partial"). Each upstream of a composed route has
// its own chain of the route's policies, so one failing upstream opens its
// own breaker only.
//
// A route with strangler moves its requests from its upstream (the legacy
// side) to strangler.new by weight, sticky per client (its IP, a header, a
// cookie or its token's subject), by header or claim overrides, or copies
// safe requests to the new side in shadow mode and counts where the two
// answers differ. Both sides run through the route's policies; a reload with
// a new weight moves the clients whose hash falls under it and no other.
//
//	routes:
//	  - match: "GET /order-details/{id}"
//	    compose:
//	      deadline: 2s
//	      parts:
//	        - {key: order, upstream: orders, path: "/orders/{id}"}
//	        - {key: customer, upstream: customers, path: "/customers/{order.customer_id}"}
//	        - {key: shipping, upstream: shipping, path: "/shipments/{id}", on_error: omit}
//	  - match: /history/
//	    upstream: monolith
//	    strangler: {new: orders, weight: 30, sticky_by: subject}
//
// # Requests
//
// A request is matched by the route table's http.ServeMux, checked against
// the route's method list and size limits, and sent through
// httputil.ReverseProxy, whose transport is a bulwarkhttp.Transport running
// the route's policy chain around the upstream's pool. So a retry resends
// only requests that are safe to send twice (idempotent methods, or an
// Idempotency-Key, without a body), each attempt to another endpoint of the
// pool while one is left; a breaker counts calls (a call that a retry on
// another endpoint saved is a success; endpoints that fail are the pool's
// outlier ejection's business) and, once open, refuses calls before any
// attempt; a timeout bounds the time until the response headers, and a streamed
// response (server-sent events, chunked bodies, a WebSocket after its 101)
// then flows, flushed as it comes, for as long as the client stays.
//
// Hardening: hop-by-hop headers are dropped both ways. The forwarding
// headers written upstream are a document's (or a route's)
// forwarded_headers: "x-forwarded" by default (X-Forwarded-For,
// X-Forwarded-Host, X-Forwarded-Proto), "rfc7239" (Forwarded) or "both".
// The default is the style that Envoy, nginx, Traefik and a bare
// httputil.ReverseProxy write and most upstream frameworks read
// (bulwarkhttp.Proxies reads the one its Header names); writing Forwarded
// as well costs each request a header the gateway builds and the upstream
// parses, so it is for upstreams that read RFC 7239. Incoming headers of
// both styles are removed; those of the style written are kept and
// appended to only when the peer is one of Config.Proxies, and set afresh
// otherwise, so a client's spoofed X-Forwarded-For or Forwarded never
// reaches an upstream from an untrusted peer. Behind trusted proxies,
// write the style they write: a proxy passes a client's headers of the
// other style on untouched, and with "both" the gateway would keep them.
// A path with a "." or ".." segment, in any percent-encoding, is refused
// with 400 before any route sees it, so no path escapes its route's prefix;
// CONNECT is refused. Every error the gateway writes is
// application/problem+json: 502 when the upstream failed, 503 with
// Retry-After when no endpoint is available or a policy refused, 504 on a
// timeout, 404, 405 with Allow, 413 and 431.
//
// # Observability
//
// Each request gets a server span (continuing the caller's trace), each
// attempt a client span whose context goes to the upstream, an X-Request-Id
// (the client's when well-formed, a new UUID otherwise; passed on and
// returned), an access log record (route, upstream, endpoint, status,
// duration, request id), and a Served event. The policies of a route report
// their events under the route's name, so otelbulwark counts them per route.
// Metrics turns the gateway's own events into OpenTelemetry metrics:
// request durations per route, status and endpoint, ejections and health
// changes per endpoint, reloads applied and refused. Observe with both:
//
//	metrics, _ := gateway.NewMetrics(meterProvider)
//	cfg.Observer = bulwark.Observers(telemetry, metrics) // telemetry: an otelbulwark.Telemetry
//
// # Reload
//
// Reload swaps the route table atomically: a request in flight finishes on
// the table it started on, a new one sees the new table, and an invalid
// document is refused with the old one kept (logged, and reported as a
// ReloadFailed event). Pools whose settings did not change are kept with
// their connections; pools of removed upstreams are closed once the
// requests on the old table are done. Config.Source (any
// configsource.Source, such as configsource.File) drives Reload from Run.
//
// # Console
//
// Component (from Gateway.Component) shows the gateway in the operations
// console module: it has console.Component's methods, so neither module
// imports the other. Its snapshot lists the routes in use with their
// stages and every pool's endpoints (healthy, ejected and until when, in
// flight); its actions "eject" and "restore" take an endpoint
// ("upstream/host:port") out of its pool by hand and put it back.
//
// # Sidecar
//
// Requests in proxy form ("GET http://orders.internal/x", as an HTTP client
// with the gateway as its proxy sends them) are routed by their host like
// any other, so a gateway on loopback gives a program's outbound calls
// retries, breakers, timeouts, limits and trace propagation without a
// change to its code.
//
// Packages: upstream (pools of endpoints), jwtauth and clientlimit (the
// middleware behind auth and limits), compose and strangler (the handlers
// behind composed and strangled routes), dnsdiscovery (a DNS resolver).
package gateway
