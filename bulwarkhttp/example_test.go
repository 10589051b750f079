package bulwarkhttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
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

	rcfg := retry.DefaultConfig()
	rcfg.OnRetry = func(attempt int, err error, wait time.Duration) {
		fmt.Printf("attempt %d failed (%d), retrying in %v\n", attempt, statusOf(err), wait)
	}
	retrier, _ := retry.New(rcfg)
	breaker, _ := circuitbreaker.New(circuitbreaker.DefaultConfig())
	bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 10})
	perAttempt, _ := timeout.New(timeout.Config{Timeout: 2 * time.Second})

	t, err := bulwarkhttp.NewTransport(bulwarkhttp.TransportConfig{
		Policy: bulwark.Chain(retrier, breaker, bh, perAttempt),
	})
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
	fmt.Println(resp.Status, string(body))
	// Output:
	// attempt 1 failed (503), retrying in 0s
	// 200 OK 42 in stock
}

func statusOf(err error) int {
	var se *bulwarkhttp.StatusError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

func ExampleShedder() {
	bh, _ := bulkhead.New(bulkhead.Config{MaxConcurrent: 100})
	shedder, err := bulwarkhttp.NewShedder(bulwarkhttp.ShedderConfig{Policy: bh, RetryAfter: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "order", r.PathValue("id"))
	})
	// At most 100 requests in the handler at once; the 101st gets
	// "503 Service Unavailable" and "Retry-After: 2" at once.
	_ = &http.Server{Addr: ":8080", Handler: shedder.Handler(mux)}
}

func ExampleRateLimiter() {
	cfg := ratelimit.DefaultKeyedConfig()
	cfg.Limit, cfg.Period = 10, time.Second // per client
	perClient, _ := ratelimit.NewKeyed(cfg)
	limiter, err := bulwarkhttp.NewRateLimiter(bulwarkhttp.RateLimiterConfig{
		Limiter: perClient,
		Key:     func(r *http.Request) string { return r.Header.Get("X-Api-Key") },
	})
	if err != nil {
		panic(err)
	}
	// A client over its limit gets "429 Too Many Requests" and a Retry-After
	// saying when its next request would be allowed.
	_ = &http.Server{Addr: ":8080", Handler: limiter.Handler(http.NotFoundHandler())}
}
