// Package gateway measures what a reverse proxy in front of one loopback
// upstream adds to a request, at 1 and 64 concurrent clients: no proxy
// (impl=none, the floor), a bare httputil.ReverseProxy (impl=httputil),
// the gateway package's Gateway with one route running bulkhead → breaker
// → retry over its upstream.Pool (impl=bulwark), and lura's net/http
// router with a no-op (pass-through) backend (impl=lura). Each benchmark
// reports requests/s and the p50 and p99 latency its clients saw;
// subtracting impl=none's gives the latency a proxy adds.
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
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

// body is what the upstream answers: a small JSON document.
var body = []byte(`{"id":42,"status":"shipped","items":3}`)

type impl struct {
	name  string
	start func(b *testing.B, upstreamURL string) string // returns the URL clients call
}

var impls = []impl{
	{"bulwark", startBulwark},
	{"httputil", startHTTPUtil},
	{"lura", startLura},
	{"none", func(_ *testing.B, u string) string { return u + "/orders/42" }},
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

// measure sends b.N GETs to u from clients goroutines and reports
// requests/s and the latency percentiles.
func measure(b *testing.B, u string, clients int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	get := func() time.Duration {
		start := time.Now()
		resp, err := client.Get(u)
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
	for range clients { // open the connections before timing
		get()
	}
	var (
		next int64
		mu   sync.Mutex
		all  = make([]time.Duration, 0, b.N)
		wg   sync.WaitGroup
	)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range clients {
		wg.Go(func() {
			lat := make([]time.Duration, 0, b.N/clients+1)
			for atomic.AddInt64(&next, 1) <= int64(b.N) {
				lat = append(lat, get())
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
}

// serve serves h on loopback until the benchmark ends.
func serve(b *testing.B, h http.Handler) string {
	s := httptest.NewServer(h)
	b.Cleanup(s.Close)
	return s.URL + "/orders/42"
}

// tunedTransport keeps as many idle connections to the upstream as the
// pool's default transport does, so that the proxies differ only in what
// they run per request.
func tunedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return t
}

func startHTTPUtil(b *testing.B, upstreamURL string) string {
	target, _ := url.Parse(upstreamURL)
	tr := tunedTransport()
	b.Cleanup(tr.CloseIdleConnections)
	return serve(b, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }, Transport: tr})
}

// startBulwark serves a gateway.Gateway with one route whose policies run
// bulkhead (256) → breaker → retry (3 attempts), over a pool of the one
// upstream.
// Its access log is discarded: the benchmark measures the routing, not
// the log's handler.
func startBulwark(b *testing.B, upstreamURL string) string {
	target, _ := url.Parse(upstreamURL)
	doc, err := gateway.Parse(fmt.Appendf(nil, `
upstreams:
  orders: {endpoints: [%q]}
routes:
  - match: /orders/
    upstream: orders
    policies:
      retry: {max_attempts: 3}
      breaker: {}
      bulkhead: {max_concurrent: 256}
`, target.Host))
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(doc, gateway.Config{Logger: slog.New(slog.DiscardHandler)})
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
	u := serve(b, g)
	for deadline := time.Now().Add(5 * time.Second); ; { // until the pool has its endpoint
		resp, err := http.Get(u)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the gateway did not serve %s within 5s", u)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
