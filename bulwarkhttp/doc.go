// Package bulwarkhttp is bulwark's one HTTP layer: a client RoundTripper
// that runs each request through a policy, server middlewares that shed
// load, limit clients' rates and make handlers idempotent, and one way of
// answering errors. The other bulwark packages do not speak HTTP.
//
// # Client
//
// A Transport runs every request through a bulwark.Policy; each time the
// policy runs its operation, one attempt goes to the server. A typical chain:
//
//	t, err := bulwarkhttp.NewTransport(bulwark.Chain(retrier, breaker, bulkhead, perAttemptTimeout), bulwarkhttp.TransportConfig{})
//	client := &http.Client{Transport: t}
//
// What the policies see:
//
//   - A response the Transport counts as a failure (5xx and 429 by default,
//     TransportConfig.IsFailure) is reported to them as a *StatusError, so a
//     breaker counts it and a retry retries it. When the response carries a
//     Retry-After header (either form), the error has a
//     RetryAfter() time.Duration method, and retry waits as the server asked.
//   - Only requests that are safe to send twice are sent twice: idempotent
//     methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and requests carrying
//     an Idempotency-Key header (HeaderIdempotencyKey, the header the
//     Idempotency middleware reads; X-Idempotency-Key does not count), whose
//     body can be rewound: none, or a Request.GetBody (http.NewRequest sets
//     it for bytes and strings readers). Errors of any other request are
//     marked retry.Permanent, so a retry gives up at once, and an attempt
//     after the first fails with ErrNotReplayable without sending anything.
//   - A policy's context bounds an attempt up to the response headers. The
//     body is read after the policies have returned, so it is bounded by the
//     request's own context (and http.Client.Timeout) only: a timeout inside
//     the chain never cuts a body the caller is reading.
//
// What the caller gets: the response of the last attempt, body intact, when
// the policies returned success or gave up on a failure response (a retry
// that ran out of attempts on 503s returns that 503, as a plain
// http.Transport would; with TransportConfig.FailureAsError it returns the
// *StatusError instead); the policy's error otherwise (an open breaker,
// a full bulkhead, a timeout, a transport error). Every other response is
// drained (up to 64 KiB, so its connection can be reused) and closed.
//
// # Server
//
// Each middleware is a type with a Handler(next http.Handler) http.Handler
// method:
//
//   - Shedder admits requests through a policy (a bulkhead, an adaptive
//     bulkhead, a breaker) and answers the ones it rejects with 503 Service
//     Unavailable at once.
//   - RateLimiter limits each client, by a key of your choosing or by its
//     IP address (behind trusted proxies: Proxies), with a keyed rate
//     limiter such as ratelimit.Keyed, and answers those over their limit
//     with 429 Too Many Requests.
//   - Idempotency runs the first request with an Idempotency-Key and
//     replays its response to every retry (see idempotency.Keeper). By
//     default it stores every response except transient failures (408, 429,
//     5xx), so a momentary rejection is never replayed as the key's
//     permanent answer.
//
// # Errors
//
// Every error answer bulwarkhttp writes is application/problem+json (RFC
// 9457), written by WriteProblem, with a Retry-After computed from the
// real wait when there is one (an open breaker's remaining open time, a
// limiter's time to the next permit, the lease of an idempotency key in
// use), rounded up to whole seconds and at least 1. WriteError gives
// handlers of your own the same answers for the errors of policies and
// downstream calls (see ProblemFor): 503 for a rejection, 429 for a rate
// limit, 504 for a timeout, 502/503/504 for a downstream that failed.
//
// # Keys for downstream calls
//
// A handler behind Idempotency that calls another service passes it a key
// derived from its own, so a retried request repeats the call under the
// same key and the downstream deduplicates it:
//
//	key := idempotency.AttemptFrom(r.Context()).DownstreamKey("payments.charge")
//	if key != "" { // "" when the request came without a key
//		out.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
//	}
//
// # Configuration and events
//
// Every constructor takes its required collaborator first and a Config
// whose zero value is the default: NewTransport(policy, TransportConfig{}),
// NewShedder(policy, ShedderConfig{}), NewRateLimiter(limiter,
// RateLimiterConfig{}), NewIdempotency(keeper, IdempotencyConfig{}). With
// an Observer, a Shedder reports Shed, a RateLimiter Limited and
// LimiterFailed, on the goroutine serving the request.
package bulwarkhttp
