package gateway

import (
	"net/url"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("upstreams: {a: {endpoints: [\"127.0.0.1:80\"]}}\nroutes: [{match: /api/, upstream: a, strip_prefix: /api, timeout: 2s}]"))
	f.Add([]byte(`{"upstreams": {"a": {"discovery": "dns"}}, "routes": [{"match": "GET h/{x}", "upstream": "a"}]}`))
	f.Add([]byte("routes: [{match: \"/{$}\", upstream: a, policies: {retry: {max_attempts: 3}, rate_limit: {limit: 5}}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		// A document Parse accepts builds a gateway, unless it names a
		// resolver or Go policy that New was not given.
		if _, err := New(d, Config{}); err != nil && !strings.Contains(err.Error(), "no resolver") && !strings.Contains(err.Error(), "no policy") {
			t.Fatalf("Parse accepted a document New refuses: %v", err)
		}
	})
}

func FuzzPathRewriting(f *testing.F) {
	for _, p := range []string{"/api/orders/1", "/api/%2e%2e/admin", "/api/..%2fx", "/api", "/apix/y", "/api/a%2Fb/c", "/%zz", "/api/ü"} {
		f.Add(p, "/api", "/v2")
	}
	f.Fuzz(func(t *testing.T, rawPath, strip, rewrite string) {
		if !validPrefix(strip) || rewrite != "" && !validPrefix(rewrite) {
			return
		}
		u, err := url.Parse(rawPath)
		if err != nil || u.Path == "" || u.Path[0] != '/' || u.Host != "" || u.Scheme != "" || u.Opaque != "" {
			return
		}
		if hasDotSegment(u.Path) { // refused before any route sees it
			return
		}
		orig := u.Path
		stripped := strings.HasPrefix(u.Path, strip) && strings.HasPrefix(u.EscapedPath(), strip)
		rewritePath(u, strip, rewrite)
		if !strings.HasPrefix(u.Path, "/") {
			t.Fatalf("rewritten path %q does not start with /", u.Path)
		}
		if hasDotSegment(u.Path) {
			t.Fatalf("rewriting %q made a dot segment: %q", rawPath, u.Path)
		}
		if rewrite != "" && !strings.HasPrefix(u.Path, rewrite) {
			t.Fatalf("rewritten path %q lost the prefix %q", u.Path, rewrite)
		}
		// The escaped form decodes to the decoded form: upstreams see the
		// path the route matched, re-rooted, never another.
		dec, err := url.PathUnescape(u.EscapedPath())
		if err != nil || dec != u.Path {
			t.Fatalf("escaped %q decodes to %q (%v), want %q", u.EscapedPath(), dec, err, u.Path)
		}
		if stripped {
			want := rewrite + orig[len(strip):]
			if !strings.HasPrefix(want, "/") {
				want = "/" + want
			}
			if u.Path != want {
				t.Fatalf("strip %q, rewrite %q: %q became %q, want %q", strip, rewrite, orig, u.Path, want)
			}
		}
	})
}
