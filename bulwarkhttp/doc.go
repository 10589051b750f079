// Package bulwarkhttp puts bulwark's policies on net/http: a client
// RoundTripper that runs each request through a policy, and server
// middleware that sheds load and limits clients' rates.
//
// # Client
//
// A Transport runs every request through a bulwark.Policy; each time the
// policy runs its operation, one attempt goes to the server. A typical chain:
//
//	t, err := bulwarkhttp.NewTransport(bulwarkhttp.TransportConfig{
//		Policy: bulwark.Chain(retrier, breaker, bulkhead, perAttemptTimeout),
//	})
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
//     methods (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) and requests carrying an
//     Idempotency-Key (or X-Idempotency-Key) header, whose body can be
//     rewound: none, or a Request.GetBody (http.NewRequest sets it for
//     bytes and strings readers). Errors of any other request are marked
//     retry.Permanent, so a retry gives up at once, and an attempt after the
//     first fails with ErrNotReplayable without sending anything.
//   - A policy's context bounds an attempt up to the response headers. The
//     body is read after the policies have returned, so it is bounded by the
//     request's own context (and http.Client.Timeout) only: a timeout inside
//     the chain never cuts a body the caller is reading.
//
// What the caller gets: the response of the last attempt, body intact, when
// the policies returned success or gave up on a failure response (a retry
// that ran out of attempts on 503s returns that 503, as a plain
// http.Transport would); the policy's error otherwise (an open breaker,
// a full bulkhead, a timeout, a transport error). Every other response is
// drained (up to 64 KiB, so its connection can be reused) and closed.
//
// # Server
//
// Shedder admits requests through a policy — a bulkhead, an adaptive bulkhead,
// a breaker — and answers the ones it rejects with 503 Service Unavailable and
// a Retry-After header. RateLimiter limits each client (by a key of your
// choosing; the remote IP by default) with a keyed rate limiter such as
// ratelimit.Keyed, and answers those over their limit with 429 Too Many
// Requests and Retry-After.
package bulwarkhttp
