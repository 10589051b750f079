package bulwarkhttp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

func ExampleTransport() {
	// A server that is overloaded for its first request.
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "0") // come back at once
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "42 in stock")
	}))
	defer srv.Close()

	retrier, _ := retry.New(retry.DefaultConfig())
	breaker, _ := circuitbreaker.New(circuitbreaker.DefaultConfig())
	bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 10})
	perAttempt, _ := timeout.New(timeout.Config{Timeout: 2 * time.Second})

	t, err := bulwarkhttp.NewTransport(bulwark.Chain(retrier, breaker, bh, perAttempt), bulwarkhttp.TransportConfig{})
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: t}
	resp, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body), "after", n.Load(), "attempts")
	// Output:
	// 200 OK 42 in stock after 2 attempts
}

func ExampleShedder() {
	bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	shedder, err := bulwarkhttp.NewShedder(bh, bulwarkhttp.ShedderConfig{RetryAfter: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	inside, release := make(chan struct{}), make(chan struct{})
	h := shedder.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		<-release // the one permit stays taken
		fmt.Fprintln(w, "served")
	}))
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/orders/1", nil))
		close(done)
	}()
	<-inside

	// The bulkhead is full: the next request is shed at once.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/orders/2", nil))
	fmt.Println(w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	fmt.Print(w.Body)
	close(release)
	<-done
	// Output:
	// 503 2 application/problem+json
	// {"title":"Service Unavailable","status":503,"detail":"The server is overloaded; retry later."}
}

func ExampleRateLimiter() {
	cfg := ratelimit.DefaultKeyedConfig()
	cfg.Limit, cfg.Period, cfg.Burst = 1, time.Minute, 1 // one request a minute per client
	perClient, _ := ratelimit.NewKeyed(cfg)
	limiter, err := bulwarkhttp.NewRateLimiter(perClient, bulwarkhttp.RateLimiterConfig{
		// The load balancers in 10.0.0.0/8 append the client's address to
		// X-Forwarded-For: the client is the right-most address not theirs.
		Proxies: bulwarkhttp.Proxies{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	})
	if err != nil {
		panic(err)
	}
	h := limiter.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	for _, forwarded := range []string{"203.0.113.7", "198.51.100.1, 203.0.113.7", "203.0.113.8"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.1.2.3:40000" // the load balancer
		r.Header.Set(bulwarkhttp.HeaderXForwardedFor, forwarded)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%s → %d %q\n", forwarded, w.Code, w.Header().Get("Retry-After"))
	}
	// Output:
	// 203.0.113.7 → 200 ""
	// 198.51.100.1, 203.0.113.7 → 429 "60"
	// 203.0.113.8 → 200 ""
}

func ExampleIdempotency() {
	keeper, _ := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	mw, _ := bulwarkhttp.NewIdempotency(keeper, bulwarkhttp.IdempotencyConfig{
		Required: true,
		Scope:    func(r *http.Request) string { return r.Header.Get("X-Account") }, // the authenticated principal
	})

	n := 0
	handler := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "payment %d", n)
	}))
	send := func(key, body string) {
		r := httptest.NewRequest(http.MethodPost, "/payments", strings.NewReader(body))
		r.Header.Set("X-Account", "acct-7")
		if key != "" {
			r.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		fmt.Println(w.Code, w.Header().Get(bulwarkhttp.HeaderIdempotentReplayed), strings.TrimSpace(string(b)))
	}
	send("k-1", `{"amount":500}`)
	send("k-1", `{"amount":500}`) // a retry: replayed
	send("k-1", `{"amount":900}`) // same key, other payload
	send("", `{"amount":500}`)    // no key
	// Output:
	// 201  payment 1
	// 201 true payment 1
	// 422  {"title":"Unprocessable Entity","status":422,"detail":"This Idempotency-Key was used with a different request."}
	// 400  {"title":"Bad Request","status":400,"detail":"This operation requires an Idempotency-Key header."}
}

func ExampleWriteError() {
	// A handler calls a dependency behind an open breaker: WriteError
	// answers 503 with the breaker's remaining open time as Retry-After.
	cfg := circuitbreaker.DefaultConfig()
	cfg.ConsecutiveFailures, cfg.OpenWait, cfg.OpenWaitJitter = 1, 30*time.Second, circuitbreaker.NoJitter
	breaker, _ := circuitbreaker.New(cfg)
	_ = breaker.Do(context.Background(), func(context.Context) error { return fmt.Errorf("inventory down") })

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := breaker.Do(r.Context(), func(ctx context.Context) error { return nil })
		if err != nil {
			bulwarkhttp.WriteError(w, err)
			return
		}
		fmt.Fprint(w, "ok")
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/stock", nil))
	fmt.Println(w.Code, w.Header().Get("Retry-After"))
	// Output:
	// 503 30
}

func ExampleProxies_ClientIP() {
	proxies := bulwarkhttp.Proxies{
		Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Header:  bulwarkhttp.HeaderForwarded,
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.10:443" // a trusted proxy, which got it from another
	r.Header.Add(bulwarkhttp.HeaderForwarded, `for=198.51.100.17, for="[2001:db8::1]:4711"`)
	r.Header.Add(bulwarkhttp.HeaderForwarded, `for=192.0.2.11;proto=https`)
	fmt.Println(proxies.ClientIP(r))

	r.RemoteAddr = "203.0.113.5:5000" // not a proxy: its headers are ignored
	fmt.Println(proxies.ClientIP(r))
	// Output:
	// 2001:db8::1
	// 203.0.113.5
}
