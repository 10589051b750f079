package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

// BenchmarkProxy compares, over loopback in one run, a bare
// httputil.ReverseProxy with the gateway on a route with retry, breaker and
// bulkhead, each in front of the same upstream.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)

	bare := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() }}
	d, err := gateway.Parse([]byte(`
upstreams: {svc: {endpoints: ["` + target.Host + `"]}}
routes:
  - match: /
    upstream: svc
    timeout: 2s
    policies:
      retry: {max_attempts: 3}
      breaker: {failure_rate: 50}
      bulkhead: {max_concurrent: 1000}
`))
	if err != nil {
		b.Fatal(err)
	}
	g, err := gateway.New(d, testConfig())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	defer g.Close(context.Background())

	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"bare-reverseproxy", bare}, {"gateway-retry-breaker-bulkhead", g}} {
		b.Run(c.name, func(b *testing.B) {
			front := httptest.NewServer(c.h)
			defer front.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			defer client.CloseIdleConnections()
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				resp, err := client.Get(front.URL + "/x")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
				if time.Now().After(deadline) {
					b.Fatal("not ready")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(front.URL + "/x")
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
