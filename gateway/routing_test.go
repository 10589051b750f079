package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const routingDoc = `
upstreams:
  orders: {endpoints: ["{orders}"]}
  users:  {endpoints: ["{users}"]}
  admin:  {endpoints: ["{admin}"]}
routes:
  - match: /api/orders/
    upstream: orders
    strip_prefix: /api
  - match: /v1/users/
    upstream: users
    strip_prefix: /v1
    rewrite_prefix: /internal/v2
    methods: [GET, PUT]
  - match: admin.example/
    upstream: admin
  - match: POST /upload
    upstream: orders
    max_body_bytes: 16
  - match: /small/
    upstream: orders
    max_header_bytes: 200
`

func TestRoutesByHostMethodAndPathAndRewritesThePath(t *testing.T) {
	d := doc(t, routingDoc,
		"{orders}", upstream(t, echo("orders")),
		"{users}", upstream(t, echo("users")),
		"{admin}", upstream(t, echo("admin")))
	_, srv := start(t, d, testConfig(), "/api/orders/1")

	for _, c := range []struct {
		method, path, host string
		status             int
		upstream, body     string
	}{
		{"GET", "/api/orders/42?x=1", "", 200, "orders", "/orders/42?x=1"},
		{"GET", "/api/orders/a%2Fb", "", 200, "orders", "/orders/a%2Fb"},
		{"GET", "/v1/users/7", "", 200, "users", "/internal/v2/users/7"},
		{"PUT", "/v1/users/7", "", 200, "users", "/internal/v2/users/7"},
		{"GET", "/anything", "admin.example", 200, "admin", "/anything"},
		{"POST", "/upload", "", 200, "orders", "/upload"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader("body"))
		if c.host != "" {
			req.Host = c.host
		}
		status, body, h := send(t, req)
		if status != c.status || h.Get("X-Upstream") != c.upstream || body != c.body {
			t.Errorf("%s %s (host %q) = %d from %q with %q, want %d from %q with %q", c.method, c.path, c.host, status, h.Get("X-Upstream"), body, c.status, c.upstream, c.body)
		}
	}
}

func TestRefusesWhatNoRouteTakesWithProblems(t *testing.T) {
	d := doc(t, routingDoc,
		"{orders}", upstream(t, echo("orders")),
		"{users}", upstream(t, echo("users")),
		"{admin}", upstream(t, echo("admin")))
	_, srv := start(t, d, testConfig(), "/api/orders/1")

	for _, c := range []struct {
		name, method, path string
		body               string
		header             http.Header
		status             int
		allow              string
	}{
		{name: "no route", method: "GET", path: "/nowhere", status: 404},
		{name: "method not in the route's list", method: "DELETE", path: "/v1/users/7", status: 405, allow: "GET, PUT"},
		{name: "method not in the pattern", method: "GET", path: "/upload", status: 405, allow: "POST"},
		{name: "body over the limit", method: "POST", path: "/upload", body: strings.Repeat("x", 17), status: 413},
		{name: "header over the limit", method: "GET", path: "/small/x", header: http.Header{"X-Big": {strings.Repeat("h", 300)}}, status: 431},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			for k, v := range c.header {
				req.Header[k] = v
			}
			status, body, h := send(t, req)
			if status != c.status {
				t.Fatalf("status = %d, want %d (%s)", status, c.status, body)
			}
			checkProblem(t, h, body, c.status)
			if c.allow != "" && h.Get("Allow") != c.allow {
				t.Errorf("Allow = %q, want %q", h.Get("Allow"), c.allow)
			}
		})
	}
}

func TestBodyLimitHoldsForChunkedBodies(t *testing.T) {
	var got int
	d := doc(t, routingDoc,
		"{orders}", upstream(t, func(w http.ResponseWriter, r *http.Request) {
			buf := make([]byte, 64)
			n, _ := r.Body.Read(buf)
			got += n
		}),
		"{users}", upstream(t, echo("users")),
		"{admin}", upstream(t, echo("admin")))
	_, srv := start(t, d, testConfig(), "/api/orders/1")
	// A body of unknown length (sent chunked) cannot be refused up front;
	// the limit cuts it off while it is read.
	req, _ := http.NewRequest("POST", srv.URL+"/upload", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("x", 1000))})
	status, body, h := send(t, req)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413 (%s)", status, body)
	}
	checkProblem(t, h, body, 413)
}

// checkProblem checks that a response is a problem+json of status.
func checkProblem(t *testing.T, h http.Header, body string, status int) {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %q)", ct, body)
	}
	var p struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != status {
		t.Fatalf("problem body %q: status %d, err %v; want status %d", body, p.Status, err, status)
	}
}
