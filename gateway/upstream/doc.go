// Package upstream is a pool of endpoints of one service, as a gateway
// forwards to it: the endpoints come from a discovery.Resolver and follow it;
// each request goes to one endpoint chosen by the balancer, among those that
// pass their active health checks and are not ejected as outliers; a retry of
// the same call goes to another endpoint while one is left.
//
// A Pool is an http.RoundTripper and a bulwark.Service: Run follows the
// resolver and runs the health checks; Close stops them.
//
// # What it guarantees
//
//   - Balancing: RoundRobin takes the eligible endpoints in turn;
//     LeastOutstanding picks two at random and sends to the one with fewer
//     requests in flight (a request is in flight until its response body is
//     closed).
//   - Outlier ejection (always on): Outlier.ConsecutiveFailures failures in
//     a row on one endpoint (transport errors, timeouts and 502/503/504
//     answers; not the caller's own cancellation) eject it for
//     Outlier.EjectionTime; then one request probes it: a success restores
//     it, a failure ejects it again for twice as long, up to
//     Outlier.MaxEjectionTime. At most Outlier.MaxEjectedPercent of the
//     endpoints (rounded down, at least one) are ejected at once. Each
//     endpoint's breaker is one key of a circuitbreaker.Keyed set.
//   - Active health checks (HealthCheck.Path set): an endpoint failing
//     UnhealthyAfter checks in a row gets no request until HealthyAfter
//     checks in a row pass; turning healthy also ends an ejection.
//   - When no endpoint is healthy the pool ignores health checks (Envoy's
//     panic mode) and balances over every endpoint not ejected; when every
//     endpoint is ejected RoundTrip returns ErrNoEndpoint at once, with the
//     time until the first ejection ends for bulwark.RetryAfter (a
//     bulwarkhttp server answers 503 with that Retry-After).
//   - Retries on another endpoint: a request whose context comes from
//     NewCall avoids the endpoints earlier attempts of the same call used,
//     while another eligible one is left. Put NewCall on each incoming
//     request and a bulwarkhttp.Transport (with a retry policy) over the
//     pool.
//   - Discovery: the pool follows the resolver's sets, keeps each staying
//     endpoint's state, and keeps serving from the last set when the
//     resolver reports an error.
//
// The zero Config is the default: round robin, no health checks, ejection
// after 5 failures in a row for 30s (up to 5m) with at most half the pool
// ejected, and a transport keeping 256 idle connections per endpoint.
//
// Events (Config.Observer): EndpointsChanged, ResolveFailed, HealthChanged,
// EndpointEjected and EndpointRestored. Endpoints returns a snapshot of
// every endpoint (health, ejection, requests in flight) for consoles and
// tests.
package upstream
