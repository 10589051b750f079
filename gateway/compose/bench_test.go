package compose_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/compose"
)

// BenchmarkThreeParts composes three parts (two in parallel, one step that
// reads a field of the first) from an upstream on loopback.
func BenchmarkThreeParts(b *testing.B) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":7,"customer_id":"c1","name":"Ada"}`))
	}))
	defer s.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	h, err := compose.New(map[string]http.RoundTripper{"u": tr}, compose.Config{Parts: []compose.Part{
		{Key: "order", Upstream: "u", BaseURL: s.URL, Path: "/orders/{id}"},
		{Key: "customer", Upstream: "u", BaseURL: s.URL, Path: "/customers/{order.customer_id}"},
		{Key: "stock", Upstream: "u", BaseURL: s.URL, Path: "/stock/{id}", Merge: true},
	}})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /page/{id}", h)
	req := httptest.NewRequest(http.MethodGet, "/page/7", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkOneRequestDirect is the same upstream called once with no
// composition: the floor the three parts are measured against.
func BenchmarkOneRequestDirect(b *testing.B) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"id":7,"customer_id":"c1","name":"Ada"}`))
	}))
	defer s.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Get(s.URL + "/orders/7")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
