package bulwarkhttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// The header fields the Transport and the middlewares read and write. The
// client and the server use the same names, so a request the Transport
// resends because it carries HeaderIdempotencyKey is one the Idempotency
// middleware deduplicates.
const (
	// HeaderIdempotencyKey carries a request's idempotency key (the IETF
	// httpapi draft "The Idempotency-Key HTTP Header Field"). It is the
	// only key header either side reads: X-Idempotency-Key means nothing
	// to bulwark.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is set to "true" on a response the
	// Idempotency middleware replayed from its store.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// HeaderRetryAfter tells a client how long to wait: read by the
	// Transport from responses, written by the middlewares on rejections.
	HeaderRetryAfter = "Retry-After"
	// HeaderForwarded is RFC 7239's record of the proxies a request
	// passed; see Proxies.
	HeaderForwarded = "Forwarded"
	// HeaderXForwardedFor is the de facto list of the addresses a request
	// was forwarded for; see Proxies.
	HeaderXForwardedFor = "X-Forwarded-For"
)

// problemContentType is the media type of every error body bulwarkhttp
// writes (RFC 9457).
const problemContentType = "application/problem+json"

// minRetryAfter is the Retry-After sent with a 503 or 429 whose cause
// says nothing about when to come back (a full bulkhead, an unreachable
// store): the shortest wait the header can express.
const minRetryAfter = time.Second

// Problem is an RFC 9457 problem details object: the body of every error
// response bulwarkhttp writes, with the Retry-After that goes with it.
type Problem struct {
	// Type is a URI reference naming the problem type; "" means
	// "about:blank" (the problem is what Status says).
	Type string `json:"type,omitempty"`
	// Title is a short summary of the problem type; "" means the status's
	// text ("Service Unavailable").
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence to the client. It never holds an
	// internal error's text.
	Detail string `json:"detail,omitempty"`
	// Instance is a URI reference naming this occurrence. Optional.
	Instance string `json:"instance,omitempty"`
	// RetryAfter, when > 0, is sent as the Retry-After header, in whole
	// seconds rounded up.
	RetryAfter time.Duration `json:"-"`
}

// WriteProblem writes p as an application/problem+json response, with a
// Retry-After header when p.RetryAfter > 0. Every error response of
// bulwarkhttp's middlewares is written by it.
func WriteProblem(w http.ResponseWriter, p Problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	body, err := json.Marshal(p)
	if err != nil { // a Problem has only strings and an int
		panic("bulwarkhttp: encoding a problem: " + err.Error())
	}
	h := w.Header()
	h.Set("Content-Type", problemContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		h.Set(HeaderRetryAfter, retryAfterSeconds(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// retryAfterSeconds formats d as a Retry-After delta-seconds value, rounded
// up and at least 1: a client told "0" would come straight back.
func retryAfterSeconds(d time.Duration) string {
	secs := d / time.Second
	if d%time.Second != 0 {
		secs++
	}
	return strconv.FormatInt(max(int64(secs), 1), 10)
}

// WriteError writes the answer to a request whose handling failed with
// err: ProblemFor(err), written by WriteProblem. Call it from handlers of
// your own when a policy or a downstream call failed:
//
//	resp, err := client.Do(req) // through a Transport
//	if err != nil {
//		bulwarkhttp.WriteError(w, err)
//		return
//	}
func WriteError(w http.ResponseWriter, err error) {
	WriteProblem(w, ProblemFor(err))
}

// ProblemFor returns the answer to a request whose handling failed with
// err. The first rule that matches err (with errors.Is or errors.As,
// through any wrapping: a retry that gave up, a *url.Error from an
// http.Client) decides:
//
//   - a *StatusError (a downstream's failure response, returned by a
//     Transport with FailureAsError, or by the policy after retries ran
//     out): 503 Service Unavailable for a downstream 503 or 429, 504
//     Gateway Timeout for a 504, 502 Bad Gateway for any other, with the
//     downstream's Retry-After when it sent one;
//   - ratelimit.ErrLimited: 429 Too Many Requests;
//   - idempotency.ErrInProgress: 409 Conflict, with Retry-After;
//   - idempotency.ErrMismatch: 422 Unprocessable Content;
//   - bulwark.ErrRejected, circuitbreaker.ErrOpen, bulkhead.ErrFull (a
//     policy refused to run the call): 503 Service Unavailable;
//   - timeout.ErrTimeout, retry.ErrAttemptTimeout,
//     context.DeadlineExceeded: 504 Gateway Timeout;
//   - any other error of an http.Client (*url.Error: the downstream was
//     unreachable): 502 Bad Gateway;
//   - context.Canceled: 503 Service Unavailable;
//   - anything else: 500 Internal Server Error.
//
// Retry-After is the wait the error carries (bulwark.RetryAfter: an open
// breaker's remaining open time, a rate limiter's time to the next permit,
// a downstream's header, an idempotency key's remaining lease), rounded up
// to whole seconds, on every answer but 500 and 422; a 503 or 429 whose
// error carries none gets 1 second. Detail describes the rule, never err's
// text, which may hold internal details.
func ProblemFor(err error) Problem {
	wait, hinted := bulwark.RetryAfter(err)
	p := Problem{Status: http.StatusInternalServerError, Detail: "The request failed."}
	var (
		se *StatusError
		ue *url.Error
	)
	switch {
	case errors.As(err, &se):
		p = downstreamProblem(se)
	case errors.Is(err, ratelimit.ErrLimited):
		p = Problem{Status: http.StatusTooManyRequests, Detail: "Too many requests; retry after the time given in Retry-After."}
	case errors.Is(err, idempotency.ErrInProgress):
		p = Problem{Status: http.StatusConflict, Detail: "A request with this Idempotency-Key is in progress; retry after it has finished."}
	case errors.Is(err, idempotency.ErrMismatch):
		return Problem{Status: http.StatusUnprocessableEntity, Detail: "This Idempotency-Key was used with a different request."}
	case errors.Is(err, bulwark.ErrRejected), errors.Is(err, circuitbreaker.ErrOpen), errors.Is(err, bulkhead.ErrFull):
		p = Problem{Status: http.StatusServiceUnavailable, Detail: "The service is overloaded or a dependency is failing; retry later."}
	case errors.Is(err, timeout.ErrTimeout), errors.Is(err, retry.ErrAttemptTimeout), errors.Is(err, context.DeadlineExceeded):
		p = Problem{Status: http.StatusGatewayTimeout, Detail: "A dependency did not answer in time."}
	case errors.As(err, &ue):
		p = Problem{Status: http.StatusBadGateway, Detail: "A dependency could not be reached."}
	case errors.Is(err, context.Canceled):
		p = Problem{Status: http.StatusServiceUnavailable, Detail: "The request was cancelled before it completed."}
	}
	if hinted && p.Status != http.StatusInternalServerError {
		p.RetryAfter = wait
	}
	if p.RetryAfter <= 0 && (p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests) {
		p.RetryAfter = minRetryAfter
	}
	return p
}

// downstreamProblem is the answer to a downstream's failure response.
func downstreamProblem(se *StatusError) Problem {
	switch se.StatusCode {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return Problem{Status: http.StatusServiceUnavailable, Detail: "A dependency is unavailable; retry later."}
	case http.StatusGatewayTimeout:
		return Problem{Status: http.StatusGatewayTimeout, Detail: "A dependency did not answer in time."}
	}
	return Problem{Status: http.StatusBadGateway, Detail: "A dependency failed."}
}
