package bulwarkhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteProblem(t *testing.T) {
	w := httptest.NewRecorder()
	bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: http.StatusTooManyRequests, Detail: `Slow "down".`, RetryAfter: 1500 * time.Millisecond})
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
	assert.Equal(t, "2", w.Header().Get("Retry-After"))
	assert.Equal(t, `{"title":"Too Many Requests","status":429,"detail":"Slow \"down\"."}`+"\n", w.Body.String())

	w = httptest.NewRecorder()
	bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Type: "https://example.com/probs/out-of-credit", Title: "You do not have enough credit.", Status: 403, Instance: "/account/12345/msgs/abc"})
	assert.Empty(t, w.Header().Get("Retry-After"))
	assert.Equal(t, `{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.","status":403,"instance":"/account/12345/msgs/abc"}`+"\n", w.Body.String())
}

func TestRetryAfterIsTheRealWaitRoundedUp(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		time.Nanosecond:          "1",
		time.Second:              "1",
		time.Second + 1:          "2",
		90 * time.Second:         "90",
		90*time.Second + 999999:  "91",
		time.Duration(1<<63 - 1): "9223372037",
	} {
		w := httptest.NewRecorder()
		bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: 503, RetryAfter: wait})
		assert.Equal(t, want, w.Header().Get("Retry-After"), "wait %v", wait)
	}
}

// ProblemFor answers each kind of failure with its status, and Retry-After
// from the wait the error carries.
func TestProblemFor(t *testing.T) {
	_, unreachable := http.Get("http://" + closedAddr(t))
	require.Error(t, unreachable)
	retried := &retry.Error{Attempts: 3, Reason: retry.ErrMaxAttempts, Err: &circuitbreaker.OpenError{Wait: 12 * time.Second}}
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"rate limited", &ratelimit.LimitedError{Delay: 2500 * time.Millisecond}, 429, "3"},
		{"rate limited, wrapped", fmt.Errorf("calling: %w", &ratelimit.LimitedError{Delay: time.Minute}), 429, "60"},
		{"open breaker", &circuitbreaker.OpenError{Wait: 30 * time.Second}, 503, "30"},
		{"open breaker after retries", retried, 503, "12"},
		{"full bulkhead", fmt.Errorf("%w", bulkhead.ErrFull), 503, "1"},
		{"any rejection", fmt.Errorf("mine: %w", bulwark.ErrRejected), 503, "1"},
		{"timeout", fmt.Errorf("x: %w", timeout.ErrTimeout), 504, ""},
		{"deadline", context.DeadlineExceeded, 504, ""},
		{"attempt timeout", fmt.Errorf("%w", retry.ErrAttemptTimeout), 504, ""},
		{"key in use", &idempotency.InProgressError{Wait: 1500 * time.Millisecond}, 409, "2"},
		{"key reused", idempotency.ErrMismatch, 422, ""},
		{"unreachable downstream", unreachable, 502, ""},
		{"cancelled", context.Canceled, 503, "1"},
		{"anything else", errors.New("pq: password authentication failed"), 500, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			bulwarkhttp.WriteError(w, tc.err)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
			p := problemOf(t, w.Header().Get("Content-Type"), w.Body.Bytes())
			assert.Equal(t, float64(tc.status), p["status"])
			assert.Equal(t, http.StatusText(tc.status), p["title"])
			assert.NotContains(t, w.Body.String(), tc.err.Error(), "the error's text is not sent")
		})
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A downstream that keeps failing: with FailureAsError the client gets the
// *StatusError (its response drained and closed), and WriteError answers
// with the status that fits and the downstream's Retry-After.
func TestDownstreamFailuresBecomeAnswers(t *testing.T) {
	for _, tc := range []struct {
		downstream int
		header     string
		want       int
		retryAfter string
	}{
		{http.StatusServiceUnavailable, "7", http.StatusServiceUnavailable, "7"},
		{http.StatusTooManyRequests, "3", http.StatusServiceUnavailable, "3"},
		{http.StatusServiceUnavailable, "", http.StatusServiceUnavailable, "1"},
		{http.StatusInternalServerError, "", http.StatusBadGateway, ""},
		{http.StatusBadGateway, "", http.StatusBadGateway, ""},
		{http.StatusGatewayTimeout, "", http.StatusGatewayTimeout, ""},
	} {
		t.Run(fmt.Sprint(tc.downstream, " ", tc.header), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				http.Error(w, "downstream trouble", tc.downstream)
			})
			rec := newRecorder(t)
			// The retry does not wait: its context's deadline is far, and a
			// hint over MaxDelay is cut to it.
			r := retrier(t, 2, func(c *retry.Config) { c.MaxDelay = time.Millisecond })
			client := newClient(t, r, bulwarkhttp.TransportConfig{Base: rec, FailureAsError: true})
			resp, err := client.Get(srv.URL)
			require.Error(t, err)
			require.Nil(t, resp)
			var se *bulwarkhttp.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.downstream, se.StatusCode)
			var ue *url.Error
			assert.ErrorAs(t, err, &ue, "http.Client wraps it")
			eof, closed := rec.responses()
			assert.Equal(t, []bool{true, true}, eof, "every failure response drained")
			assert.Equal(t, []bool{true, true}, closed)

			w := httptest.NewRecorder()
			bulwarkhttp.WriteError(w, err)
			assert.Equal(t, tc.want, w.Code)
			assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
			assert.NotContains(t, w.Body.String(), "downstream trouble")
		})
	}
}

// A policy that reports success over a failure response (one that swallows
// errors) still yields the *StatusError with FailureAsError, and the
// response without it.
func TestFailureAsErrorWhenThePolicySwallowsTheFailure(t *testing.T) {
	swallow := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		_ = op(ctx)
		return nil
	})
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusBadGateway) })
	client := newClient(t, swallow, bulwarkhttp.TransportConfig{FailureAsError: true})
	_, err := client.Get(srv.URL)
	var se *bulwarkhttp.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusBadGateway, se.StatusCode)

	client = newClient(t, swallow, bulwarkhttp.TransportConfig{})
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	readBody(t, resp)

	client = newClient(t, swallow, bulwarkhttp.TransportConfig{FailureAsError: true})
	ok := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { fmt.Fprint(w, "fine") })
	resp, err = client.Get(ok.URL)
	require.NoError(t, err, "successes are responses as ever")
	assert.Equal(t, "fine", readBody(t, resp))
}
