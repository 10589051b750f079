// Package gateway measures what a reverse proxy in front of one loopback
// upstream adds to a request, at 1 and 64 concurrent clients: no proxy
// (impl=none, the floor), a bare httputil.ReverseProxy (impl=httputil),
// the gateway package's Gateway with one route running bulkhead → breaker
// → retry over its upstream.Pool (impl=bulwark), the same route with
// RS256 token verification and per-subject rate limits (impl=
// bulwark-jwt-limit, jwt_test.go), and lura's net/http router with a
// no-op (pass-through) backend (impl=lura). Each benchmark
// reports requests/s, the CPU time the process (clients, proxy and
// upstream) spent per request, and the p50 and p99 latency its clients
// saw; subtracting impl=none's gives the latency a proxy adds.
//
// instructions.sh runs the same benchmarks under valgrind's callgrind
// for a fixed number of requests and prints the instructions per
// request, a measure the other work on a shared machine does not move;
// instrdiff.sh splits one request's instructions by function.
package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

// body is what the upstream answers: a small JSON document.
var body = []byte(`{"id":42,"status":"shipped","items":3}`)

type impl struct {
	name  string
	start func(b *testing.B, upstreamURL string) target
}

// target is what the clients call: a URL and, for the routes that check
// a token, the Authorization header of each client.
type target struct {
	url string
	// authorization, when set, returns client i's Authorization header.
	authorization func(i int) string
}

var impls = []impl{
	{"bulwark", startBulwark},
	{"bulwark-jwt-limit", startBulwarkJWT},
	{"httputil", startHTTPUtil},
	{"lura", startLura},
	{"none", func(_ *testing.B, u string) target { return target{url: u + "/orders/42"} }},
}

func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer up.Close()
	for _, clients := range []int{1, 64} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("clients=%d/impl=%s", clients, im.name), func(b *testing.B) {
				measure(b, im.start(b, up.URL), clients)
			})
		}
	}
}

// measure sends b.N GETs to t from clients goroutines, client i with its
// own Authorization header when t has them, and reports requests/s and
// the latency percentiles.
func measure(b *testing.B, t target, clients int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	get := func(i int) time.Duration {
		start := time.Now()
		req, err := http.NewRequest(http.MethodGet, t.url, nil)
		if err != nil {
			b.Fatal(err)
		}
		if t.authorization != nil {
			req.Header.Set("Authorization", t.authorization(i))
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for i := range clients { // open the connections (and see every client's token once) before timing
		get(i)
	}
	var (
		next int64
		mu   sync.Mutex
		all  = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	for i := range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, b.N/clients+1)
			for atomic.AddInt64(&next, 1) <= int64(b.N) {
				lat = append(lat, get(i))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/req")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// cpuTime is the CPU time (user and system) the process has used: over
// a run, what the clients, the proxy and the upstream together spent,
// which moves less than requests/s with the other work on a shared
// machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serve serves h on loopback until the benchmark ends.
func serve(b *testing.B, h http.Handler) target {
	s := httptest.NewServer(h)
	b.Cleanup(s.Close)
	return target{url: s.URL + "/orders/42"}
}

// tunedTransport keeps as many idle connections to the upstream as the
// pool's default transport does, so that the proxies differ only in what
// they run per request.
func tunedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return t
}

func startHTTPUtil(b *testing.B, upstreamURL string) target {
	target, _ := url.Parse(upstreamURL)
	tr := tunedTransport()
	b.Cleanup(tr.CloseIdleConnections)
	return serve(b, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr})
}

// route is the gateway route of both bulwark rows: bulkhead (256) →
// breaker → retry (3 attempts) over a pool of the one upstream.
const route = `
upstreams:
  orders: {endpoints: [%q]}
routes:
  - match: /orders/
    upstream: orders
    policies:
      retry: {max_attempts: 3}
      breaker: {}
      bulkhead: {max_concurrent: 256}
`

// startBulwark serves a gateway.Gateway with the one route.
func startBulwark(b *testing.B, upstreamURL string) target {
	up, _ := url.Parse(upstreamURL)
	return startGateway(b, fmt.Sprintf(route, up.Host), nil)
}

// startGateway serves a gateway.Gateway of doc, running until the
// benchmark ends, and returns once it answers 200 to a request with
// client 0's Authorization header (the pool has its endpoint, and a route
// with auth has its issuer's key set).
// Its access log is discarded: the benchmark measures the routing, not
// the log's handler.
func startGateway(b *testing.B, doc string, authorization func(i int) string) target {
	d, err := gateway.Parse([]byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(d, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	b.Cleanup(func() {
		_ = g.Close(context.Background())
		<-done
		cancel()
	})
	t := serve(b, g)
	t.authorization = authorization
	for deadline := time.Now().Add(5 * time.Second); ; { // until the pool has its endpoint
		req, _ := http.NewRequest(http.MethodGet, t.url, nil)
		if authorization != nil {
			req.Header.Set("Authorization", authorization(0))
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the gateway did not serve %s within 5s", t.url)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
