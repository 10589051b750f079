// Package gateway measures what a reverse proxy in front of one loopback
// upstream adds to a request, at 1 and 64 concurrent clients: no proxy
// (impl=none, the floor), a bare httputil.ReverseProxy (impl=httputil),
// the same proxy with a bulwarkhttp.Transport running breaker → retry →
// bulkhead over an upstream.Pool (impl=bulwark), and lura's net/http
// router with a no-op (pass-through) backend (impl=lura). Each benchmark
// reports requests/s and the p50 and p99 latency its clients saw;
// subtracting impl=none's gives the latency a proxy adds.
package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway/upstream"
	"github.com/bulwark-go/bulwark/retry"
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

func startBulwark(b *testing.B, upstreamURL string) string {
	target, _ := url.Parse(upstreamURL)
	r := discovery.NewStatic()
	if err := r.Set("orders", []discovery.Endpoint{{Addr: target.Host}}); err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{}, 1)
	pool, err := upstream.New(r, "orders", upstream.Config{Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(upstream.EndpointsChanged); ok {
			ready <- struct{}{}
		}
	})})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pool.Run(context.Background()) }()
	b.Cleanup(func() {
		_ = pool.Close(context.Background())
		<-done
	})
	<-ready
	br, err := circuitbreaker.New(circuitbreaker.Config{})
	if err != nil {
		b.Fatal(err)
	}
	re, err := retry.New(retry.Config{MaxAttempts: 3})
	if err != nil {
		b.Fatal(err)
	}
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 256})
	if err != nil {
		b.Fatal(err)
	}
	tr, err := bulwarkhttp.NewTransport(bulwark.Chain(br, re, bh), bulwarkhttp.TransportConfig{Base: pool})
	if err != nil {
		b.Fatal(err)
	}
	virtual := &url.URL{Scheme: "http", Host: "orders"}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(virtual) }, Transport: tr}
	return serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r.WithContext(upstream.NewCall(r.Context())))
	}))
}
