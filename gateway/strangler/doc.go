// Package strangler moves an HTTP path from a legacy service to its
// replacement a share of clients at a time: the strangler-fig migration.
//
// A Router (New) is an http.Handler in front of two http.Handlers, the
// legacy side and the new side (FromTransport makes one from an
// http.RoundTripper such as an upstream.Pool). In Split mode each request
// goes to one side:
//
//   - Overrides first: a request whose header, or whose JWT claim (read from
//     the Principal that package jwtauth put in its context), matches an
//     Override goes to that Override's side, whatever the weight.
//   - Otherwise by weight: the request's sticky key (a header, a cookie,
//     the JWT subject, or the client's IP by default and whenever the
//     chosen source is absent) is hashed to a bucket in [0, 100); buckets
//     below Weight go to the new side. The hash is fixed (FNV-1a, mixed), so
//     a client stays on its side across requests, restarts and replicas
//     while the weight holds, and raising the weight moves only the clients
//     whose bucket lies between the old and the new weight, all to the new
//     side: none goes back to legacy.
//
// In Shadow mode the legacy side answers every request (but those an
// Override sends to the new side). Once it has answered, a copy of each
// safe request (GET or HEAD, without a body, not an Upgrade), marked with
// the header X-Bulwark-Shadow: 1, is sent to the new side in the
// background, with Shadow.Timeout, at most Shadow.MaxInFlight at once
// (beyond that the copy is skipped and counted), and the two answers are
// compared: the status, and the bodies (as JSON values without the
// Shadow.IgnoreFields when both are JSON, byte for byte otherwise, up to
// Shadow.MaxBodyBytes each). The client's answer is never delayed or
// changed by the new side: not by its latency, its errors or a panic.
// Stats counts the copies; each difference is reported as a Mismatch event
// with a sample, each copy that failed (timed out or panicked) as a
// ShadowFailed event, from the copy's goroutine.
//
// Reconfigure and SetWeight change the mode, weight, key and overrides at
// run time, atomically: each request reads the settings once. Close stops
// sending copies and waits for those in flight (cancelling them if its
// context ends first): no goroutine outlives it.
package strangler
