package bulwarkhttp

import (
	"cmp"
	"net/http"
	"net/url"
	"time"

	"github.com/bulwark-go/bulwark/retry"
)

// StatusError is what an attempt reports to the policy for a response that
// counts as a failure (TransportConfig.IsFailure). The caller of RoundTrip
// normally gets the response itself, not this error; policies and their hooks
// see it.
//
// When the response had a valid Retry-After header, StatusError wraps an
// error with a RetryAfter() time.Duration method (errors.As finds it), so a
// retry waits as the server asked; without one, the retry's own backoff
// applies.
type StatusError struct {
	Method     string
	URL        *url.URL
	StatusCode int
	Status     string // "503 Service Unavailable"

	retryAfter *retryAfterError
}

func newStatusError(req *http.Request, resp *http.Response, t *Transport) *StatusError {
	e := &StatusError{Method: req.Method, URL: req.URL, StatusCode: resp.StatusCode, Status: resp.Status}
	e.Method = cmp.Or(e.Method, http.MethodGet)
	if v := resp.Header.Get("Retry-After"); v != "" {
		if d, ok := retry.ParseRetryAfter(v, t.clock.Now()); ok {
			e.retryAfter = &retryAfterError{wait: d}
		}
	}
	return e
}

func (e *StatusError) Error() string {
	msg := "bulwarkhttp: " + e.Method + " " + e.URL.Redacted() + ": " + e.Status
	if e.retryAfter != nil {
		msg += " (" + e.retryAfter.Error() + ")"
	}
	return msg
}

// Unwrap returns the Retry-After hint, or nil when the response had none.
func (e *StatusError) Unwrap() error {
	if e.retryAfter == nil {
		return nil
	}
	return e.retryAfter
}

// retryAfterError carries a response's Retry-After.
type retryAfterError struct{ wait time.Duration }

func (e *retryAfterError) Error() string { return "Retry-After " + e.wait.String() }

// RetryAfter returns how long the server asked the client to wait.
func (e *retryAfterError) RetryAfter() time.Duration { return e.wait }
