package gateway_test

import (
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUpstreamFailuresBecomeProblemsWithRetryAfter(t *testing.T) {
	var flaky atomic.Int32
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	d := doc(t, `
upstreams:
  ok:    {endpoints: ["{ok}"]}
  dead:  {endpoints: ["{dead}"]}
  slow:  {endpoints: ["{slow}"]}
  flaky: {endpoints: ["{flaky}"]}
  down:  {endpoints: ["{down}"]}
routes:
  - {match: /ok, upstream: ok}
  - {match: /dead, upstream: dead, policies: {retry: {max_attempts: 2, backoff: 1ms}}}
  - {match: /slow, upstream: slow, timeout: 50ms}
  - {match: /limited, upstream: ok, policies: {rate_limit: {limit: 1, period: 1h}}}
  - match: /flaky
    upstream: flaky
    policies:
      retry: {max_attempts: 3, backoff: 1ms}
  - match: /down
    upstream: down
    policies:
      breaker: {consecutive_failures: 2, open_wait: 30s}
`,
		"{ok}", upstream(t, echo("ok")),
		"{dead}", deadAddr(t),
		"{slow}", upstream(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-stall:
			case <-r.Context().Done():
			}
		}),
		"{flaky}", upstream(t, func(w http.ResponseWriter, r *http.Request) {
			if flaky.Add(1)%3 != 0 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("third time"))
		}),
		"{down}", upstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
		}))
	_, srv := start(t, d, testConfig(), "/ok")

	// Retries go around a flaky upstream.
	if status, body, _ := get(t, srv.URL+"/flaky"); status != 200 || body != "third time" {
		t.Errorf("flaky: %d %q, want 200 after retries", status, body)
	}
	// An unreachable upstream is a 502.
	status, body, h := get(t, srv.URL+"/dead")
	if status != http.StatusBadGateway {
		t.Errorf("dead: %d, want 502", status)
	}
	checkProblem(t, h, body, status)
	// An upstream slower than the route's timeout is a 504.
	start := time.Now()
	status, body, h = get(t, srv.URL+"/slow")
	if status != http.StatusGatewayTimeout || time.Since(start) > 2*time.Second {
		t.Errorf("slow: %d after %v, want 504 after about 50ms", status, time.Since(start))
	}
	checkProblem(t, h, body, status)
	// A rate limit: the second request is refused with 429 and the wait.
	get(t, srv.URL+"/limited")
	status, body, h = get(t, srv.URL+"/limited")
	if status != http.StatusTooManyRequests {
		t.Errorf("limited: %d, want 429", status)
	}
	checkProblem(t, h, body, status)
	if s, _ := strconv.Atoi(h.Get("Retry-After")); s < 3000 {
		t.Errorf("limited: Retry-After %q, want about an hour", h.Get("Retry-After"))
	}
	// A failing upstream opens the breaker: its 500s pass through, then
	// the breaker answers 503 with the time it stays open.
	for range 2 {
		if status, _, _ := get(t, srv.URL+"/down"); status != http.StatusInternalServerError {
			t.Errorf("down: %d, want the upstream's 500", status)
		}
	}
	status, body, h = get(t, srv.URL+"/down")
	if status != http.StatusServiceUnavailable {
		t.Errorf("down with the breaker open: %d, want 503", status)
	}
	checkProblem(t, h, body, status)
	if s, _ := strconv.Atoi(h.Get("Retry-After")); s < 20 || s > 30 {
		t.Errorf("breaker open: Retry-After %q, want the open wait (about 30)", h.Get("Retry-After"))
	}
}

func TestNoEndpointIsA503WithRetryAfter(t *testing.T) {
	// Before Run, no pool has its endpoints yet.
	d := doc(t, `
upstreams: {ok: {endpoints: ["127.0.0.1:1"]}}
routes: [{match: /, upstream: ok}]
`)
	g, err := newGateway(d)
	if err != nil {
		t.Fatal(err)
	}
	rec := serveOnce(g, "GET", "/x")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("no endpoint: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	checkProblem(t, rec.Header(), rec.Body.String(), http.StatusServiceUnavailable)
}
