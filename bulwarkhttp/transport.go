package bulwarkhttp

import (
	"errors"
	"net/http"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

var (
	// ErrNotReplayable is the error of an attempt that would have sent a
	// request a second time when that is not safe: a method that is not
	// idempotent without an Idempotency-Key header, or a body that cannot be
	// rewound. It is marked retry.Permanent.
	ErrNotReplayable = errors.New("bulwarkhttp: request cannot be sent again")

	// ErrNoResponse is returned when the policy reported success without
	// letting any attempt produce a response.
	ErrNoResponse = errors.New("bulwarkhttp: policy succeeded without a response")
)

// TransportConfig configures a Transport.
type TransportConfig struct {
	// Policy runs each request; every run of its operation is one attempt.
	// Required.
	Policy bulwark.Policy

	// Base sends the attempts. nil means http.DefaultTransport.
	Base http.RoundTripper

	// IsFailure reports whether a response counts as a failure for Policy.
	// nil means a status of 500 or more, or 429 Too Many Requests.
	IsFailure func(*http.Response) bool

	// Clock reads the time that HTTP-date Retry-After values are measured
	// from. nil means clock.System.
	Clock clock.Clock
}

// DefaultTransportConfig returns a TransportConfig sending through
// http.DefaultTransport and counting 5xx and 429 as failures. Policy must
// still be set.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{}
}

// Transport is an http.RoundTripper that runs each request through a policy.
// It is safe for concurrent use. See the package doc for what the policy and
// the caller see.
type Transport struct {
	policy    bulwark.Policy
	base      http.RoundTripper
	isFailure func(*http.Response) bool
	clock     clock.Clock
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport, or an error naming the first invalid
// field of cfg.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Policy == nil {
		return nil, errors.New("bulwarkhttp: TransportConfig.Policy must be set, got nil")
	}
	t := &Transport{policy: cfg.Policy, base: cfg.Base, isFailure: cfg.IsFailure, clock: clock.OrSystem(cfg.Clock)}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.isFailure == nil {
		t.isFailure = DefaultIsFailure
	}
	return t, nil
}

// DefaultIsFailure reports a status of 500 or more, or 429 Too Many Requests,
// as a failure.
func DefaultIsFailure(resp *http.Response) bool {
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
}

// RoundTrip runs req through the policy and returns the response of its last
// attempt, or the policy's error. It closes req.Body, as the RoundTripper
// contract asks, and does not modify req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	x := &exchange{t: t, req: req, replayable: replayable(req)}
	err := t.policy.Do(req.Context(), x.attempt)
	return x.finish(err)
}

// CloseIdleConnections closes the idle connections of the base transport, if
// it has that method (http.Client.CloseIdleConnections calls this).
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// replayable reports whether req may be sent more than once: an idempotent
// method or an idempotency key (RFC 9110 §9.2.2; net/http's own retry rule
// plus PUT and DELETE), and a body that can be had again.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}
