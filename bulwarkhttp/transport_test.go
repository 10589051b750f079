package bulwarkhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewTransportRequiresAPolicy(t *testing.T) {
	_, err := bulwarkhttp.NewTransport(nil, bulwarkhttp.DefaultTransportConfig())
	assert.EqualError(t, err, "bulwarkhttp: NewTransport needs a policy, got nil")
	assert.PanicsWithValue(t, "bulwarkhttp: Transport used without NewTransport", func() {
		_, _ = new(bulwarkhttp.Transport).RoundTrip(httptest.NewRequest(http.MethodGet, "/", nil))
	})
	assert.PanicsWithValue(t, "bulwarkhttp: Transport used without NewTransport", func() {
		new(bulwarkhttp.Transport).CloseIdleConnections()
	}, "CloseIdleConnections")
}

func TestDefaultIsFailure(t *testing.T) {
	for status, want := range map[int]bool{200: false, 304: false, 404: false, 499: false, 429: true, 500: true, 503: true, 599: true} {
		assert.Equal(t, want, bulwarkhttp.DefaultIsFailure(&http.Response{StatusCode: status}), "status %d", status)
	}
}

// A flaky server fails twice, then answers. The caller gets the answer with
// its body intact; the two failures were drained and closed, so one
// connection carried all three attempts.
func TestRetriesAFlakyServer(t *testing.T) {
	leakcheck.Check(t)
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n <= 2 {
			http.Error(w, fmt.Sprintf("busy %d", n), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "hello")
	})
	rec := newRecorder(t)
	client := newClient(t, retrier(t, 5), bulwarkhttp.TransportConfig{Base: rec})

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	eof, closed := rec.responses()
	assert.Equal(t, []bool{true, true, false}, eof, "failures drained before the caller got the answer")
	assert.Equal(t, []bool{true, true, false}, closed, "failures closed; the answer is the caller's")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "hello", readBody(t, resp))
	_, closed = rec.responses()
	assert.Equal(t, []bool{true, true, true}, closed)
	assert.Equal(t, int32(3), srv.requests.Load())
	assert.Equal(t, int32(1), srv.conns.Load(), "drained connections are reused: none leaked")
}

// When the retries run out, the caller gets the last failure response, body
// intact, as a plain transport would have returned it.
func TestGivesTheLastFailureResponseWhenRetriesRunOut(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		http.Error(w, fmt.Sprintf("still busy %d", n), http.StatusServiceUnavailable)
	})
	rec := newRecorder(t)
	var sawStatus []int
	client := newClient(t, retrier(t, 3, func(c *retry.Config) {
		c.Observer = onRetried(func(ev retry.Retried) {
			var se *bulwarkhttp.StatusError
			if assert.ErrorAs(t, ev.Err, &se) {
				sawStatus = append(sawStatus, se.StatusCode)
			}
		})
	}), bulwarkhttp.TransportConfig{Base: rec})

	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "still busy 3\n", readBody(t, resp))
	assert.Equal(t, []int{503, 503}, sawStatus, "the retry saw each failure as a *StatusError")
	eof, closed := rec.responses()
	assert.Equal(t, []bool{true, true, true}, closed)
	assert.Equal(t, []bool{true, true, true}, eof)
	assert.Equal(t, int32(1), srv.conns.Load())
}

// 429 and 503 carry Retry-After; the retry waits exactly that long, in either
// form of the header, instead of its own (hour-long) backoff.
func TestHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header string
		want   time.Duration
	}{
		{"delta-seconds on 429", http.StatusTooManyRequests, "2", 2 * time.Second},
		{"HTTP-date on 503", http.StatusServiceUnavailable, epoch.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := clocktest.New(epoch)
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.header)
					w.WriteHeader(tc.status)
					return
				}
				fmt.Fprint(w, "served")
			})
			var delays []time.Duration
			r := retrier(t, 3, func(c *retry.Config) {
				c.Backoff = retry.Constant{Delay: time.Hour}
				c.Clock = fc
				c.Observer = onRetried(func(ev retry.Retried) { delays = append(delays, ev.Delay) })
			})
			client := newClient(t, r, bulwarkhttp.TransportConfig{Clock: fc})

			type result struct {
				resp *http.Response
				err  error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := client.Get(srv.URL)
				done <- result{resp, err}
			}()
			fc.BlockUntil(1) // the retry waits
			fc.Advance(tc.want - time.Millisecond)
			assert.Equal(t, int32(1), srv.requests.Load(), "no retry before Retry-After")
			fc.Advance(time.Millisecond)
			res := <-done
			require.NoError(t, res.err)
			assert.Equal(t, "served", readBody(t, res.resp))
			assert.Equal(t, []time.Duration{tc.want}, delays)
		})
	}
}

func TestStatusError(t *testing.T) {
	fc := clocktest.New(epoch)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		wantMsg    string
		wantWait   time.Duration // 0: no RetryAfter method in the error
	}{
		{"503 with Retry-After", 503, "7", "bulwarkhttp: GET http://user:xxxxx@example.test/stock: 503 Service Unavailable (Retry-After 7s)", 7 * time.Second},
		{"429 with a date", 429, epoch.Add(time.Minute).Format(http.TimeFormat), "bulwarkhttp: GET http://user:xxxxx@example.test/stock: 429 Too Many Requests (Retry-After 1m0s)", time.Minute},
		{"500 without", 500, "", "bulwarkhttp: GET http://user:xxxxx@example.test/stock: 500 Internal Server Error", 0},
		{"unparsable Retry-After", 503, "soon", "bulwarkhttp: GET http://user:xxxxx@example.test/stock: 503 Service Unavailable", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seen error
			p := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
				seen = op(ctx)
				return seen
			})
			base := roundTripFunc(func(*http.Request) (*http.Response, error) {
				h := http.Header{}
				if tc.retryAfter != "" {
					h.Set("Retry-After", tc.retryAfter)
				}
				return &http.Response{StatusCode: tc.status, Status: fmt.Sprintf("%d %s", tc.status, http.StatusText(tc.status)), Header: h, Body: http.NoBody}, nil
			})
			tr, err := bulwarkhttp.NewTransport(p, bulwarkhttp.TransportConfig{Base: base, Clock: fc})
			require.NoError(t, err)
			req, _ := http.NewRequest(http.MethodGet, "http://user:secret@example.test/stock", nil)
			resp, err := tr.RoundTrip(req)
			require.NoError(t, err)
			resp.Body.Close()

			var se *bulwarkhttp.StatusError
			require.ErrorAs(t, seen, &se)
			assert.Equal(t, tc.status, se.StatusCode)
			assert.Equal(t, tc.wantMsg, seen.Error(), "the password is redacted")
			var ra interface{ RetryAfter() time.Duration }
			if tc.wantWait == 0 {
				assert.False(t, errors.As(seen, &ra), "no Retry-After, no RetryAfter: the retry's backoff applies")
			} else if assert.True(t, errors.As(seen, &ra)) {
				assert.Equal(t, tc.wantWait, ra.RetryAfter())
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Only requests that are safe to send twice are sent twice; the body of each
// attempt is the whole body.
func TestRepeatsOnlyRequestsSafeToRepeat(t *testing.T) {
	const payload = "reserve 3 widgets"
	for _, tc := range []struct {
		name     string
		method   string
		header   string
		body     func() io.Reader
		attempts int32
	}{
		{"GET", http.MethodGet, "", nil, 3},
		{"HEAD", http.MethodHead, "", nil, 3},
		{"DELETE", http.MethodDelete, "", nil, 3},
		{"PUT with a rewindable body", http.MethodPut, "", func() io.Reader { return strings.NewReader(payload) }, 3},
		{"POST", http.MethodPost, "", func() io.Reader { return strings.NewReader(payload) }, 1},
		{"PATCH", http.MethodPatch, "", func() io.Reader { return strings.NewReader(payload) }, 1},
		{"POST with Idempotency-Key", http.MethodPost, bulwarkhttp.HeaderIdempotencyKey, func() io.Reader { return strings.NewReader(payload) }, 3},
		// The server's Idempotency middleware does not read it, so it
		// does not make a request safe to resend.
		{"POST with X-Idempotency-Key", http.MethodPost, "X-Idempotency-Key", func() io.Reader { return strings.NewReader(payload) }, 1},
		{"PUT with a body that cannot be rewound", http.MethodPut, "", func() io.Reader { return io.MultiReader(strings.NewReader(payload)) }, 1},
		{"keyed POST with a body that cannot be rewound", http.MethodPost, bulwarkhttp.HeaderIdempotencyKey, func() io.Reader { return io.MultiReader(strings.NewReader(payload)) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			var attempts atomic.Int32
			var gaveUp error
			r := retrier(t, 3, func(c *retry.Config) {
				c.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
					if ev, ok := e.(retry.GaveUp); ok {
						gaveUp = ev.Reason
					}
				})
			})
			client := newClient(t, counting(r, &attempts), bulwarkhttp.TransportConfig{})

			var body io.Reader
			if tc.body != nil {
				body = tc.body()
			}
			req, err := http.NewRequest(tc.method, srv.URL, body)
			require.NoError(t, err)
			if tc.header != "" {
				req.Header.Set(tc.header, "order-17")
			}
			resp, err := client.Do(req)
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
			readBody(t, resp)

			assert.Equal(t, tc.attempts, srv.requests.Load(), "requests the server saw")
			assert.Equal(t, tc.attempts, attempts.Load(), "the retry did not even try again")
			for _, got := range srv.received() {
				if tc.body != nil {
					assert.Equal(t, payload, got, "every attempt sends the whole body")
				}
			}
			if tc.attempts == 1 {
				assert.ErrorIs(t, gaveUp, retry.ErrNotRetryable, "the failure was marked permanent")
			} else {
				assert.ErrorIs(t, gaveUp, retry.ErrMaxAttempts)
			}
		})
	}
}

// A policy that runs the operation again regardless (one of the caller's
// own, not bulwark's retry) still cannot send an unsafe request twice.
func TestNeverSendsAnUnsafeRequestTwice(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusBadGateway) })
	var second error
	stubborn := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		first := op(ctx)
		second = op(ctx)
		return first
	})
	client := newClient(t, stubborn, bulwarkhttp.TransportConfig{})
	resp, err := client.Post(srv.URL, "text/plain", strings.NewReader("charge 10 EUR"))
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	readBody(t, resp)
	assert.Equal(t, int32(1), srv.requests.Load())
	assert.ErrorIs(t, second, bulwarkhttp.ErrNotReplayable)
	assert.True(t, retry.IsPermanent(second))
}

func TestTransportErrorsAreRetriedOnlyWhenSafe(t *testing.T) {
	errReset := errors.New("connection reset by peer")
	for _, tc := range []struct {
		method string
		sends  int32
	}{{http.MethodGet, 3}, {http.MethodPost, 1}} {
		t.Run(tc.method, func(t *testing.T) {
			var sends atomic.Int32
			base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sends.Add(1)
				if r.Body != nil {
					r.Body.Close()
				}
				return nil, errReset
			})
			tr, err := bulwarkhttp.NewTransport(retrier(t, 3), bulwarkhttp.TransportConfig{Base: base})
			require.NoError(t, err)
			req, _ := http.NewRequest(tc.method, "http://example.test/", strings.NewReader("x"))
			resp, err := tr.RoundTrip(req)
			assert.Nil(t, resp)
			assert.ErrorIs(t, err, errReset)
			assert.Equal(t, tc.sends, sends.Load())
		})
	}
}

// The breaker counts 5xx and 429 as failures — not 4xx — and, once open,
// keeps requests off the server.
func TestBreakerCountsServerErrors(t *testing.T) {
	for _, tc := range []struct {
		status   int
		opens    bool
		isFailed func(*http.Response) bool
	}{
		{status: http.StatusInternalServerError, opens: true},
		{status: http.StatusTooManyRequests, opens: true},
		{status: http.StatusNotFound, opens: false},
		{status: http.StatusNotFound, opens: true, isFailed: func(r *http.Response) bool { return r.StatusCode >= 400 }},
	} {
		t.Run(fmt.Sprintf("%d custom=%v", tc.status, tc.isFailed != nil), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(tc.status) })
			cfg := circuitbreaker.DefaultConfig()
			cfg.ConsecutiveFailures = 3
			cfg.Clock = clocktest.New(epoch)
			breaker, err := circuitbreaker.New(cfg)
			require.NoError(t, err)
			client := newClient(t, breaker, bulwarkhttp.TransportConfig{IsFailure: tc.isFailed})

			for range 3 {
				resp, err := client.Get(srv.URL)
				require.NoError(t, err)
				assert.Equal(t, tc.status, resp.StatusCode)
				readBody(t, resp)
			}
			_, err = client.Get(srv.URL)
			if tc.opens {
				assert.ErrorIs(t, err, circuitbreaker.ErrOpen)
				assert.Equal(t, int32(3), srv.requests.Load(), "an open breaker keeps requests off the server")
			} else {
				assert.NoError(t, err)
				assert.Equal(t, int32(4), srv.requests.Load())
			}
		})
	}
}

// A policy's timeout ends its context when Do returns, but the caller reads
// the body after that: the body must stay readable.
func TestTimeoutInsideTheChainDoesNotCutTheBody(t *testing.T) {
	leakcheck.Check(t)
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		fmt.Fprint(w, "first half, ")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "second half")
	})
	tm, err := timeout.New(timeout.Config{Timeout: time.Minute})
	require.NoError(t, err)
	client := newClient(t, bulwark.Chain(retrier(t, 2), tm), bulwarkhttp.TransportConfig{})
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	close(release) // the policies have all returned by now
	assert.Equal(t, "first half, second half", readBody(t, resp))
}

// The caller's own context still bounds reading the body.
func TestCallersContextBoundsTheBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		fmt.Fprint(w, "start")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	client := newClient(t, retrier(t, 2), bulwarkhttp.TransportConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 5)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	cancel()
	_, err = io.ReadAll(resp.Body)
	assert.ErrorIs(t, err, context.Canceled)
}

// A server that fails, then stalls, then recovers, behind retry → breaker →
// timeout: the breaker opens on the failures, a stalled probe times out and
// reopens it, and once the server is back a probe closes it.
func TestFailStallRecover(t *testing.T) {
	leakcheck.Check(t)
	var mode atomic.Value // "fail", "stall", "ok"
	mode.Store("fail")
	stalled := make(chan struct{}, 1)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch mode.Load() {
		case "fail":
			http.Error(w, "down", http.StatusInternalServerError)
		case "stall":
			stalled <- struct{}{}
			<-r.Context().Done()
		default:
			fmt.Fprint(w, "in stock")
		}
	})
	fc := clocktest.New(epoch)
	bcfg := circuitbreaker.DefaultConfig()
	bcfg.ConsecutiveFailures = 4
	bcfg.OpenWait = 10 * time.Second
	bcfg.OpenWaitMultiplier, bcfg.MaxOpenWait, bcfg.OpenWaitJitter = circuitbreaker.FixedOpenWait, 0, circuitbreaker.NoJitter
	bcfg.HalfOpenCalls, bcfg.HalfOpenSuccesses = 1, 1
	bcfg.Clock = fc
	breaker, err := circuitbreaker.New(bcfg)
	require.NoError(t, err)
	tm, err := timeout.New(timeout.Config{Timeout: time.Second, Clock: fc})
	require.NoError(t, err)
	// An open breaker is not worth retrying (it would wait out its
	// RetryAfter): the retry gives up on it at once.
	r := retrier(t, 2, func(c *retry.Config) {
		c.RetryIf = func(err error) bool { return !errors.Is(err, circuitbreaker.ErrOpen) }
	})
	client := newClient(t, bulwark.Chain(r, breaker, tm), bulwarkhttp.TransportConfig{})

	// Failing: two requests of two attempts each trip the breaker.
	for range 2 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		readBody(t, resp)
	}
	_, err = client.Get(srv.URL)
	assert.ErrorIs(t, err, circuitbreaker.ErrOpen)
	assert.Equal(t, int32(4), srv.requests.Load())

	// Stalling: the half-open probe times out, which reopens the breaker,
	// and the retry's second attempt is rejected.
	mode.Store("stall")
	fc.Advance(10 * time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := client.Get(srv.URL)
		done <- err
	}()
	<-stalled
	fc.Advance(time.Second) // the probe's deadline
	err = <-done
	assert.ErrorIs(t, err, circuitbreaker.ErrOpen)
	assert.Equal(t, int32(5), srv.requests.Load())
	assert.Equal(t, circuitbreaker.StateOpen, breaker.State())

	// Recovered: the next probe closes the breaker and its body arrives
	// whole, although the timeout around it has ended its context.
	mode.Store("ok")
	fc.Advance(10 * time.Second)
	for range 3 {
		resp, err := client.Get(srv.URL)
		require.NoError(t, err)
		assert.Equal(t, "in stock", readBody(t, resp))
	}
	assert.Equal(t, circuitbreaker.StateClosed, breaker.State())
}

// A failure response that stalls mid-body must not hold up the next attempt:
// draining it gives up and drops that connection.
func TestStalledFailureBodyDoesNotHang(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "0123456789")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, "fine")
	})
	client := newClient(t, retrier(t, 2), bulwarkhttp.TransportConfig{})
	start := time.Now()
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fine", readBody(t, resp))
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, int32(2), srv.conns.Load(), "the stalled connection was dropped")
}

// Policies that run attempts concurrently (hedging) get one response to the
// caller and every other closed.
func TestConcurrentAttempts(t *testing.T) {
	var first sync.Once
	loserServed := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		lost := false
		first.Do(func() { lost = true })
		if lost {
			http.Error(w, "slow replica", http.StatusServiceUnavailable)
			close(loserServed)
			return
		}
		<-loserServed
		fmt.Fprint(w, "fast replica")
	})
	hedge := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- op(ctx) }()
		}
		a, b := <-errs, <-errs
		if a == nil || b == nil {
			return nil
		}
		return a
	})
	rec := newRecorder(t)
	client := newClient(t, hedge, bulwarkhttp.TransportConfig{Base: rec})
	resp, err := client.Get(srv.URL)
	require.NoError(t, err)
	assert.Equal(t, "fast replica", readBody(t, resp))
	_, closed := rec.responses()
	assert.Equal(t, []bool{true, true}, closed)
}

func TestRejectedRequestIsClosedAndNotSent(t *testing.T) {
	errRejected := errors.New("bulkhead full")
	var sends atomic.Int32
	base := roundTripFunc(func(*http.Request) (*http.Response, error) { sends.Add(1); return nil, errors.New("unreachable") })
	reject := bulwark.PolicyFunc(func(context.Context, func(context.Context) error) error { return errRejected })
	tr, err := bulwarkhttp.NewTransport(reject, bulwarkhttp.TransportConfig{Base: base})
	require.NoError(t, err)
	body := &closeTracker{Reader: strings.NewReader("order")}
	req, _ := http.NewRequest(http.MethodPut, "http://example.test/", body)
	resp, err := tr.RoundTrip(req)
	assert.Nil(t, resp)
	assert.ErrorIs(t, err, errRejected)
	assert.True(t, body.closed.Load(), "RoundTrip closes the body it never sent")
	assert.Zero(t, sends.Load())
}

func TestSuccessWithoutAResponse(t *testing.T) {
	silent := bulwark.PolicyFunc(func(context.Context, func(context.Context) error) error { return nil })
	tr, err := bulwarkhttp.NewTransport(silent, bulwarkhttp.TransportConfig{})
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	_, err = tr.RoundTrip(req)
	assert.ErrorIs(t, err, bulwarkhttp.ErrNoResponse)
}

// A response the policy gives up on for a reason of its own (a timeout that
// fired as the headers came) is closed, not handed out.
func TestResponseOfAFailedPolicyIsClosed(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { fmt.Fprint(w, "too late") })
	errLate := errors.New("too late for the caller")
	late := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		if err := op(ctx); err != nil {
			return err
		}
		return errLate
	})
	rec := newRecorder(t)
	client := newClient(t, late, bulwarkhttp.TransportConfig{Base: rec})
	_, err := client.Get(srv.URL)
	assert.ErrorIs(t, err, errLate)
	eof, closed := rec.responses()
	assert.Equal(t, []bool{true}, eof)
	assert.Equal(t, []bool{true}, closed)
}

func TestAttemptsCarryThePolicysContextValues(t *testing.T) {
	type key struct{}
	var got any
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.Context().Value(key{})
		return &http.Response{StatusCode: 200, Body: http.NoBody, Header: http.Header{}}, nil
	})
	tagging := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(context.WithValue(ctx, key{}, "span-42"))
	})
	tr, err := bulwarkhttp.NewTransport(tagging, bulwarkhttp.TransportConfig{Base: base})
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, "http://example.test/", nil)
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "span-42", got)
}

// onRetried returns an Observer that passes each retry.Retried event to f.
func onRetried(f func(retry.Retried)) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if ev, ok := e.(retry.Retried); ok {
			f(ev)
		}
	})
}
