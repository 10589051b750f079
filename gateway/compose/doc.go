// Package compose answers one HTTP request by calling several upstreams
// (the parts) and merging their JSON bodies into one response object: the
// API composition pattern.
//
// A Handler is an http.Handler built by New from named transports (an
// upstream.Pool, a bulwarkhttp.Transport, any http.RoundTripper) and a
// Config, whose json tags let a gateway document declare it. Each Part is a
// request template: a method, a path whose placeholders take the incoming
// request's path values ({id}) or a field of an earlier part's JSON body
// ({order.customer_id}), and the headers to pass on.
//
// Guarantees:
//
//   - Parts that do not depend on each other run in parallel; a part that
//     names another's field in its path starts only once that part has
//     answered, and never runs when it did not (it then fails).
//   - At most Config.MaxConcurrency parts of one request are in flight.
//   - Config.Deadline bounds the whole request; each part's Timeout bounds
//     that part. A part not answered in time (or not started by the
//     deadline) counts as failed.
//   - A failed part (transport error, timeout, a status outside 2xx, a body
//     that is not JSON or is larger than Config.MaxPartBytes) is handled by
//     its OnError: Fail answers the whole request with problem+json (504
//     when it timed out, 502 otherwise) and cancels the other parts at once;
//     Omit leaves its key out; UseFallback puts its static Fallback value in
//     its place. An answer with an omitted or fallback part is partial: it
//     carries the header X-Partial listing those parts (in Config order) and
//     the same list in the body's "_partial" field.
//   - The trace headers (traceparent, tracestate, baggage) and X-Request-Id
//     of the incoming request are passed on to every part, with the headers
//     each Part lists. No other incoming header, and no request body, is.
//   - ServeHTTP returns only after every part's goroutine has ended: a
//     Handler leaves no goroutine behind.
//   - Every part reports a PartDone event with its status, error and
//     timing, and every request an Answered event, to Config.Observer
//     (synchronously, on the goroutine that did the work: the observer must
//     be safe for concurrent use).
package compose
