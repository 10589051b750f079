package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark"
)

func TestGoPoliciesNamedByARouteRunAroundItsRequests(t *testing.T) {
	var calls atomic.Int32
	cfg := testConfig()
	cfg.Policies = map[string]bulwark.Policy{
		"audited": bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
			calls.Add(1)
			return op(ctx)
		}),
	}
	_, srv := start(t, doc(t, `
upstreams: {a: {endpoints: ["{a}"]}}
routes: [{match: /audited, upstream: a, policy: audited}, {match: /plain, upstream: a}]
`, "{a}", upstream(t, echo("a"))), cfg, "/plain")
	before := calls.Load()
	get(t, srv.URL+"/plain")
	if status, _, _ := get(t, srv.URL+"/audited"); status != 200 {
		t.Fatalf("status %d", status)
	}
	if got := calls.Load() - before; got != 1 {
		t.Fatalf("the named policy ran %d times for one request to its route and one to another, want 1", got)
	}
}

func TestPreserveHostAndHTTPSUpstreams(t *testing.T) {
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("tls host=" + r.Host))
	}))
	defer tlsUp.Close()
	cfg := testConfig()
	cfg.Transport = tlsUp.Client().Transport // trusts the test certificate
	addr := tlsUp.Listener.Addr().String()
	_, srv := start(t, doc(t, `
upstreams: {secure: {endpoints: ["{a}"], scheme: https}}
routes:
  - {match: /kept, upstream: secure, preserve_host: true}
  - {match: /endpoint, upstream: secure}
`, "{a}", addr), cfg, "/endpoint")

	req, _ := http.NewRequest("GET", srv.URL+"/kept", nil)
	req.Host = "shop.example"
	if status, body, _ := send(t, req); status != 200 || body != "tls host=shop.example" {
		t.Errorf("preserve_host: %d %q", status, body)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/endpoint", nil)
	req.Host = "shop.example"
	if status, body, _ := send(t, req); status != 200 || body != "tls host="+addr {
		t.Errorf("default Host: %d %q, want the endpoint's address", status, body)
	}
}
