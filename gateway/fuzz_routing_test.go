package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway"
)

// roundTripFunc answers attempts without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzRouting sends arbitrary request targets through a gateway whose
// routes strip and rewrite prefixes, and checks what reaches an upstream:
// a path under the route's prefix, without dot segments, whose escaped and
// decoded forms agree.
func FuzzRouting(f *testing.F) {
	d, err := gateway.Parse([]byte(`
upstreams:
  api:   {endpoints: ["10.0.0.1:80"]}
  admin: {endpoints: ["10.0.0.2:80"]}
routes:
  - {match: /api/, upstream: api, strip_prefix: /api, rewrite_prefix: /public}
  - {match: /admin/, upstream: admin}
`))
	if err != nil {
		f.Fatal(err)
	}
	cfg := testConfig()
	cfg.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		// Echo the upstream and the path it was sent, as the upstream
		// would see them.
		body := r.URL.Host + " " + r.URL.EscapedPath()
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	})
	g, err := gateway.New(d, cfg)
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	defer g.Close(context.Background())
	for deadline := time.Now().Add(5 * time.Second); serveOnce(g, "GET", "/api/x").Code != 200; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			f.Fatal("the gateway did not become ready")
		}
	}

	for _, s := range []string{"/api/x", "/api/../admin/x", "/api/%2e%2e/admin", "/api/..%2fadmin", "/api/a%2Fb", "/admin/x?y=1", "/api//x", "/api/..;/admin"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") || strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return // a server refuses such a request line before any handler
		}
		req := httptest.NewRequest("GET", "http://gw.example/", nil)
		req.URL = u
		req.RequestURI = target
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != 200 {
			return
		}
		endpoint, sent, ok := strings.Cut(rec.Body.String(), " ")
		if !ok {
			t.Fatalf("%q: unexpected answer %q", target, rec.Body.String())
		}
		decoded, err := url.PathUnescape(sent)
		if err != nil {
			t.Fatalf("%q was sent on as %q, which does not decode: %v", target, sent, err)
		}
		for seg := range strings.FieldsFuncSeq(decoded, func(r rune) bool { return r == '/' || r == '\\' }) {
			if seg, _, _ = strings.Cut(seg, ";"); seg == "." || seg == ".." {
				t.Fatalf("%q reached %s as %q, with a dot segment", target, endpoint, sent)
			}
		}
		switch endpoint {
		case "10.0.0.1:80":
			if !strings.HasPrefix(decoded, "/public/") {
				t.Fatalf("%q reached the api upstream as %q, outside /public/", target, sent)
			}
		case "10.0.0.2:80":
			if !strings.HasPrefix(u.Path, "/admin/") || !strings.HasPrefix(decoded, "/admin/") {
				t.Fatalf("%q reached the admin upstream as %q", target, sent)
			}
		default:
			t.Fatalf("%q reached %q", target, endpoint)
		}
	})
}
