package bulwarkhttp_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// BenchmarkRoundTrip measures what the Transport adds to a round trip whose
// base answers at once, with a pass-through policy: the per-request and
// per-attempt bookkeeping (attempt context, body wrapper), not the network.
func BenchmarkRoundTrip(b *testing.B) {
	base := roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}, nil
	})
	pass := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error { return op(ctx) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://example.test/", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("impl=bulwark", func(b *testing.B) {
		tr, err := bulwarkhttp.NewTransport(pass, bulwarkhttp.TransportConfig{Base: base})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			resp, _ := tr.RoundTrip(req)
			resp.Body.Close()
		}
	})
	b.Run("impl=base", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, _ := base.RoundTrip(req)
			resp.Body.Close()
		}
	})
}
