package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway"
)

func TestParseReadsYAMLAndJSON(t *testing.T) {
	yaml := `
upstreams:
  orders:
    endpoints: ["10.0.0.1:8080", "10.0.0.2:8080"]
    balancer: least_outstanding
    health_check: {path: /healthz, interval: 5s}
    outlier: {consecutive_failures: 5, ejection_time: 30s, max_ejected_percent: 50}
routes:
  - match: "GET api.example.com/orders/{id}"
    upstream: orders
    timeout: 2s
    policies:
      retry: {max_attempts: 3}
      breaker: {failure_rate: 50}
      bulkhead: {max_concurrent: 100}
`
	json := `{"upstreams": {"orders": {"endpoints": ["10.0.0.1:8080", "10.0.0.2:8080"], "balancer": "least_outstanding",
	  "health_check": {"path": "/healthz", "interval": "5s"}, "outlier": {"consecutive_failures": 5, "ejection_time": "30s", "max_ejected_percent": 50}}},
	  "routes": [{"match": "GET api.example.com/orders/{id}", "upstream": "orders", "timeout": "2s",
	  "policies": {"retry": {"max_attempts": 3}, "breaker": {"failure_rate": 50}, "bulkhead": {"max_concurrent": 100}}}]}`
	for name, src := range map[string]string{"yaml": yaml, "json": json} {
		d, err := gateway.Parse([]byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r := d.Routes[0]
		if time.Duration(r.Timeout) != 2*time.Second || r.Policies.Retry.MaxAttempts != 3 || r.Policies.Bulkhead.MaxConcurrent != 100 ||
			len(d.Upstreams["orders"].Endpoints) != 2 || time.Duration(d.Upstreams["orders"].Outlier.EjectionTime) != 30*time.Second {
			t.Errorf("%s: parsed %+v", name, d)
		}
	}
}

func TestParseErrorsNameTheFieldAndTheRange(t *testing.T) {
	const base = "upstreams: {a: {endpoints: [\"127.0.0.1:80\"]}}\nroutes:\n  - {match: /ok, upstream: a}\n"
	for _, c := range []struct{ doc, want string }{
		{"", "empty"},
		{"routes: [{match: /, upstream: a, timeoutt: 1s}]", `unknown field "timeoutt"`},
		{"upstreams: {}\nupstreams: {}", `key "upstreams" already set`},
		{base + "  - {match: /t, upstream: a, timeout: 2}", `a duration must be a string such as "2s"`},
		{base + "  - {match: /t, upstream: a, timeout: -1s}", "routes[1].timeout: must be 0 (no limit) or in [1ms, 1h0m0s], got -1s"},
		{base + "  - {match: /t, upstream: b}", `routes[1].upstream: no upstream named "b"`},
		{base + "  - {upstream: a}", "routes[1].match: a pattern is required"},
		{base + "  - {match: /ok, upstream: a, name: other}", "routes[1].match:"},
		{base + "  - {match: /ok, upstream: a}", `routes[1].name: "/ok" is also the name of routes[0]`},
		{base + "  - {match: \"GET /m\", upstream: a, methods: [GET]}", "routes[1].methods: the pattern already names method GET"},
		{base + "  - {match: /m, upstream: a, methods: [get]}", "routes[1].methods[0]: must be an upper-case HTTP method"},
		{base + "  - {match: /api/, upstream: a, strip_prefix: /v1}", `routes[1].strip_prefix: must begin the pattern's path "/api/"`},
		{base + "  - {match: /api/, upstream: a, strip_prefix: /api/../x}", `routes[1].strip_prefix: must start with "/"`},
		{base + "  - {match: /api/, upstream: a, rewrite_prefix: \"/a b\"}", `routes[1].rewrite_prefix:`},
		{base + "  - {match: /b, upstream: a, max_body_bytes: -2}", "routes[1].max_body_bytes: must be 0 (10 MiB), -1 (unlimited) or in [1, 1099511627776], got -2"},
		{base + "  - {match: /b, upstream: a, max_header_bytes: 2000000}", "routes[1].max_header_bytes: must be 0 (32 KiB), -1 (unlimited) or in [1, 1048576]"},
		{base + "  - {match: /p, upstream: a, policies: {retry: {max_attempts: 11}}}", "routes[1].policies.retry.max_attempts: must be 0 (3) or in [1, 10], got 11"},
		{base + "  - {match: /p, upstream: a, policies: {breaker: {failure_rate: 150}}}", "routes[1].policies.breaker.failure_rate: must be 0 (50) or in (0, 100], got 150"},
		{base + "  - {match: /p, upstream: a, policies: {breaker: {window: 10, minimum_calls: 11}}}", "routes[1].policies.breaker.minimum_calls: must be 0 (20 or window) or in [1, 10], got 11"},
		{base + "  - {match: /p, upstream: a, policies: {bulkhead: {}}}", "routes[1].policies.bulkhead.max_concurrent: must be in [1, 1000000], got 0"},
		{base + "  - {match: /p, upstream: a, policies: {rate_limit: {limit: 0}}}", "routes[1].policies.rate_limit.limit: must be in [1, 1000000000], got 0"},
		{base + "  - {match: /p, upstream: a, policy: \"a b\"}", "routes[1].policy: must name a policy"},
		{base + "  - {match: /f, upstream: a, forwarded_headers: forwarded}", `routes[1].forwarded_headers: must be "x-forwarded" (the default), "rfc7239" or "both", got "forwarded"`},
		{"forwarded_headers: RFC7239\n" + base, `forwarded_headers: must be "x-forwarded" (the default), "rfc7239" or "both", got "RFC7239"`},
		{"upstreams: {a: {}}\nroutes: []", "upstreams.a.endpoints: static discovery needs at least one"},
		{"upstreams: {a: {endpoints: [\"nohost\"]}}", `upstreams.a.endpoints[0]: must be "host:port", got "nohost"`},
		{"upstreams: {a: {discovery: dns, endpoints: [\"h:1\"]}}", `upstreams.a.endpoints: only static discovery takes endpoints`},
		{"upstreams: {a: {endpoints: [\"h:1\"], service: x}}", `upstreams.a.service: static discovery`},
		{"upstreams: {a: {endpoints: [\"h:1\"], scheme: ftp}}", `upstreams.a.scheme: must be "http" or "https", got "ftp"`},
		{"upstreams: {a: {endpoints: [\"h:1\"], balancer: random}}", `upstreams.a.balancer: must be "round_robin" or "least_outstanding"`},
		{"upstreams: {a: {endpoints: [\"h:1\"], health_check: {path: healthz}}}", `upstreams.a.health_check.path: must start with "/"`},
		{"upstreams: {a: {endpoints: [\"h:1\"], health_check: {path: /h, interval: 1s, timeout: 2s}}}", `upstreams.a.health_check.timeout: must be 0 (2s or interval) or in [1ms, 1s], got 2s`},
		{"upstreams: {a: {endpoints: [\"h:1\"], outlier: {max_ejected_percent: 101}}}", `upstreams.a.outlier.max_ejected_percent: must be 0 (50) or in [1, 100], got 101`},
		{"upstreams: {\"a b\": {endpoints: [\"h:1\"]}}", `upstreams.a b: an upstream name must be letters`},
	} {
		_, err := gateway.Parse([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.doc, err, c.want)
		}
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := gateway.Parse([]byte("routes: [{match: /a, upstream: x, timeout: -1s}]"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"routes[0].upstream", "routes[0].timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestNewChecksTheConfigAndTheResolversNamed(t *testing.T) {
	d := doc(t, "upstreams: {a: {discovery: dns}}\nroutes: [{match: /, upstream: a}]")
	if _, err := gateway.New(d, testConfig()); err == nil || !strings.Contains(err.Error(), `upstreams.a.discovery: no resolver "dns"`) {
		t.Errorf("New with an unknown resolver: %v", err)
	}
	if _, err := gateway.New(nil, testConfig()); err == nil {
		t.Error("New(nil) succeeded")
	}
	ok := doc(t, "upstreams: {a: {endpoints: [\"127.0.0.1:1\"]}}\nroutes: [{match: /, upstream: a}]")
	for _, c := range []struct {
		cfg  gateway.Config
		want string
	}{
		{gateway.Config{Resolvers: map[string]discovery.Resolver{"static": discovery.NewStatic()}}, `must not hold "static"`},
		{gateway.Config{Resolvers: map[string]discovery.Resolver{"dns": nil}}, `Config.Resolvers["dns"] must be a non-nil resolver`},
		{gateway.Config{Policies: map[string]bulwark.Policy{"audited": nil}}, `Config.Policies["audited"] must not be nil`},
	} {
		if _, err := gateway.New(ok, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want an error containing %q", err, c.want)
		}
	}
}
