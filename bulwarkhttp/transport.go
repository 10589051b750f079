package bulwarkhttp

import (
	"cmp"
	"errors"
	"net/http"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

var (
	// ErrNotReplayable is the error of an attempt that would have sent a
	// request a second time when that is not safe: a method that is not
	// idempotent without an Idempotency-Key header (HeaderIdempotencyKey),
	// or a body that cannot be rewound. It is marked retry.Permanent.
	ErrNotReplayable = errors.New("bulwarkhttp: request cannot be sent again")

	// ErrNoResponse is returned when the policy reported success without
	// letting any attempt produce a response.
	ErrNoResponse = errors.New("bulwarkhttp: policy succeeded without a response")
)

// TransportConfig configures a Transport. Every zero field means the
// default its comment names, so TransportConfig{} is the default
// configuration.
type TransportConfig struct {
	// Base sends the attempts. nil means http.DefaultTransport.
	Base http.RoundTripper

	// IsFailure reports whether a response counts as a failure for Policy.
	// nil means a status of 500 or more, or 429 Too Many Requests.
	IsFailure func(*http.Response) bool

	// Clock reads the time that HTTP-date Retry-After values are measured
	// from. nil means clock.System.
	Clock clock.Clock

	// FailureAsError makes RoundTrip return the *StatusError of a failure
	// response, after draining and closing the response, when the policy
	// gave up on it (a retry that ran out of attempts on 503s), instead of
	// the response itself. http.Client.Do then returns the error (in a
	// *url.Error), which WriteError turns into the right answer (502, 503
	// or 504, with the downstream's Retry-After). Off by default: the
	// caller gets the response, as from a plain http.Transport.
	FailureAsError bool
}

// DefaultTransportConfig returns the defaults that TransportConfig{} stands
// for, spelled out: attempts sent through http.DefaultTransport, 5xx and
// 429 counted as failures (DefaultIsFailure), the system clock, failure
// responses returned as responses.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{Base: http.DefaultTransport, IsFailure: DefaultIsFailure, Clock: clock.System}
}

// Transport is an http.RoundTripper that runs each request through a policy.
// It is safe for concurrent use. See the package doc for what the policy and
// the caller see.
type Transport struct {
	policy         bulwark.Policy
	base           http.RoundTripper
	isFailure      func(*http.Response) bool
	clock          clock.Clock
	failureAsError bool
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that runs each request through policy
// (every run of the policy's operation is one attempt), or an error when
// policy is nil. The zero TransportConfig is the default configuration.
func NewTransport(policy bulwark.Policy, cfg TransportConfig) (*Transport, error) {
	if policy == nil {
		return nil, errors.New("bulwarkhttp: NewTransport needs a policy, got nil")
	}
	t := &Transport{policy: policy, base: cfg.Base, isFailure: cfg.IsFailure, clock: clock.OrSystem(cfg.Clock), failureAsError: cfg.FailureAsError}
	t.base = cmp.Or(t.base, http.DefaultTransport)
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
	t.check()
	x := &exchange{t: t, req: req, replayable: replayable(req)}
	err := t.policy.Do(req.Context(), x.attempt)
	return x.finish(err)
}

// CloseIdleConnections closes the idle connections of the base transport, if
// it has that method (http.Client.CloseIdleConnections calls this).
func (t *Transport) CloseIdleConnections() {
	t.check()
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// check panics if t was not made by NewTransport.
func (t *Transport) check() {
	if t.policy == nil {
		panic("bulwarkhttp: Transport used without NewTransport")
	}
}

// replayable reports whether req may be sent more than once: an idempotent
// method or an Idempotency-Key header (RFC 9110 §9.2.2; net/http's own
// retry rule plus PUT and DELETE), and a body that can be had again.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	_, ok := req.Header[HeaderIdempotencyKey]
	return ok
}
