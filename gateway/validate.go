package gateway

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/discovery"
)

// The defaults of the document's settings.
const (
	defaultMaxBodyBytes   = 10 << 20
	defaultMaxHeaderBytes = 32 << 10
	maxMaxBodyBytes       = 1 << 40
	maxMaxHeaderBytes     = 1 << 20
)

// problems collects what is wrong with a document, each naming the field.
type problems []error

func (p *problems) addf(path, format string, args ...any) {
	*p = append(*p, fmt.Errorf("gateway: %s: %s", path, fmt.Sprintf(format, args...)))
}

// duration checks that d is 0 (when zeroOK) or in [lo, hi].
func (p *problems) duration(path string, d Duration, zeroOK bool, lo, hi time.Duration, zero string) {
	v := time.Duration(d)
	if v == 0 && zeroOK {
		return
	}
	if v < lo || v > hi {
		if zeroOK {
			p.addf(path, "must be 0 (%s) or in [%v, %v], got %v", zero, lo, hi, v)
			return
		}
		p.addf(path, "must be in [%v, %v], got %v", lo, hi, v)
	}
}

// count checks that n is 0 (when zeroOK) or in [lo, hi].
func (p *problems) count(path string, n, lo, hi int, zeroOK bool, zero string) {
	if n == 0 && zeroOK {
		return
	}
	if n < lo || n > hi {
		if zeroOK {
			p.addf(path, "must be 0 (%s) or in [%d, %d], got %d", zero, lo, hi, n)
			return
		}
		p.addf(path, "must be in [%d, %d], got %d", lo, hi, n)
	}
}

// Validate reports everything wrong with d, every error naming its field
// ("routes[2].timeout") and the allowed values; nil when d is valid. It
// checks what a document alone can tell: whether a discovery resolver or a
// Go policy named here exists is checked by New and Reload.
func (d *Document) Validate() error {
	var p problems
	names := slices.Sorted(maps.Keys(d.Upstreams))
	for _, name := range names {
		validateUpstream(&p, name, d.Upstreams[name])
	}
	if d.JWT != nil {
		validateJWT(&p, d.JWT)
	}
	validateForwardedHeaders(&p, "forwarded_headers", d.ForwardedHeaders)
	seen := map[string]int{}
	mux := http.NewServeMux()
	for i, r := range d.Routes {
		path := fmt.Sprintf("routes[%d]", i)
		validateRoute(&p, path, r, d)
		name := r.routeName()
		if j, dup := seen[name]; dup {
			p.addf(path+".name", "%q is also the name of routes[%d]", name, j)
		}
		seen[name] = i
		if r.Match != "" {
			if err := register(mux, r.Match, http.NotFoundHandler()); err != nil {
				p.addf(path+".match", "%v", err)
			}
		}
	}
	return errors.Join(p...)
}

// routeName is the route's name: Name, or its pattern.
func (r Route) routeName() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Match
}

// register adds pattern to mux, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

func validateUpstream(p *problems, name string, u Upstream) {
	path := "upstreams." + name
	if !validName(name) {
		p.addf(path, "an upstream name must be letters, digits, '.', '_' or '-', got %q", name)
	}
	switch u.Discovery {
	case "", staticResolver:
		if u.Service != "" {
			p.addf(path+".service", "static discovery takes its endpoints from this upstream; a service name means nothing to it, got %q", u.Service)
		}
		if len(u.Endpoints) == 0 {
			p.addf(path+".endpoints", "static discovery needs at least one \"host:port\"")
		}
		for i, addr := range u.Endpoints {
			if _, err := discovery.Normalize([]discovery.Endpoint{{Addr: addr}}); err != nil {
				p.addf(fmt.Sprintf("%s.endpoints[%d]", path, i), "must be \"host:port\", got %q", addr)
			}
		}
	default:
		if !validName(u.Discovery) {
			p.addf(path+".discovery", "must name a resolver (letters, digits, '.', '_' or '-'), got %q", u.Discovery)
		}
		if len(u.Endpoints) > 0 {
			p.addf(path+".endpoints", "only static discovery takes endpoints; %q finds its own", u.Discovery)
		}
	}
	if u.Service != "" && strings.TrimSpace(u.Service) != u.Service {
		p.addf(path+".service", "must not start or end with spaces, got %q", u.Service)
	}
	switch u.Scheme {
	case "", "http", "https":
	default:
		p.addf(path+".scheme", "must be \"http\" or \"https\", got %q", u.Scheme)
	}
	switch u.Balancer {
	case "", "round_robin", "least_outstanding":
	default:
		p.addf(path+".balancer", "must be \"round_robin\" or \"least_outstanding\", got %q", u.Balancer)
	}
	if h := u.HealthCheck; h != nil {
		hp := path + ".health_check"
		if !strings.HasPrefix(h.Path, "/") {
			p.addf(hp+".path", "must start with \"/\", got %q", h.Path)
		}
		p.duration(hp+".interval", h.Interval, true, 100*time.Millisecond, time.Hour, "10s")
		interval := cmpOr(time.Duration(h.Interval), 10*time.Second)
		p.duration(hp+".timeout", h.Timeout, true, time.Millisecond, interval, "2s or interval")
		p.count(hp+".healthy_threshold", h.HealthyThreshold, 1, 100, true, "2")
		p.count(hp+".unhealthy_threshold", h.UnhealthyThreshold, 1, 100, true, "3")
	}
	if o := u.Outlier; o != nil {
		op := path + ".outlier"
		p.count(op+".consecutive_failures", o.ConsecutiveFailures, 1, 1000, true, "5")
		p.duration(op+".ejection_time", o.EjectionTime, true, time.Millisecond, time.Hour, "30s")
		p.count(op+".max_ejected_percent", o.MaxEjectedPercent, 1, 100, true, "50")
	}
}

func validateRoute(p *problems, path string, r Route, d *Document) {
	if r.Match == "" {
		p.addf(path+".match", "a pattern is required, such as \"/orders/\"")
	}
	method, _, patternPath := splitPattern(r.Match)
	if method != "" && len(r.Methods) > 0 {
		p.addf(path+".methods", "the pattern already names method %s; use one or the other", method)
	}
	for i, m := range r.Methods {
		if !validMethod(m) {
			p.addf(fmt.Sprintf("%s.methods[%d]", path, i), "must be an upper-case HTTP method such as \"GET\", got %q", m)
		}
	}
	switch {
	case r.Compose != nil && r.Upstream != "":
		p.addf(path+".upstream", "a route with compose sends to its parts' upstreams; leave upstream out, got %q", r.Upstream)
	case r.Compose != nil && r.Strangler != nil:
		p.addf(path+".strangler", "a route with compose cannot also have strangler")
	case r.Compose != nil:
		for i, part := range r.Compose.Parts {
			if _, ok := d.Upstreams[part.Upstream]; !ok {
				p.addf(fmt.Sprintf("%s.compose.parts[%d].upstream", path, i), "no upstream named %q in upstreams", part.Upstream)
			}
		}
	case r.Upstream == "":
		p.addf(path+".upstream", "an upstream name is required")
	default:
		if _, ok := d.Upstreams[r.Upstream]; !ok {
			p.addf(path+".upstream", "no upstream named %q in upstreams", r.Upstream)
		}
	}
	if s := r.Strangler; s != nil && r.Compose == nil {
		if _, ok := d.Upstreams[s.New]; !ok {
			p.addf(path+".strangler.new", "no upstream named %q in upstreams", s.New)
		} else if s.New == r.Upstream {
			p.addf(path+".strangler.new", "must be another upstream than the route's own, got %q", s.New)
		}
	}
	if r.StripPrefix != "" {
		switch {
		case !validPrefix(r.StripPrefix):
			p.addf(path+".strip_prefix", "must start with \"/\" and hold only letters, digits, '/', '-', '.', '_' or '~', without \".\" or \"..\" segments, got %q", r.StripPrefix)
		case !strings.HasPrefix(literalPrefix(patternPath), r.StripPrefix):
			p.addf(path+".strip_prefix", "must begin the pattern's path %q, got %q", patternPath, r.StripPrefix)
		}
	}
	if r.RewritePrefix != "" && !validPrefix(r.RewritePrefix) {
		p.addf(path+".rewrite_prefix", "must start with \"/\" and hold only letters, digits, '/', '-', '.', '_' or '~', without \".\" or \"..\" segments, got %q", r.RewritePrefix)
	}
	validateForwardedHeaders(p, path+".forwarded_headers", r.ForwardedHeaders)
	p.duration(path+".timeout", r.Timeout, true, time.Millisecond, time.Hour, "no limit")
	if r.MaxBodyBytes != 0 && r.MaxBodyBytes != Unlimited && (r.MaxBodyBytes < 1 || r.MaxBodyBytes > maxMaxBodyBytes) {
		p.addf(path+".max_body_bytes", "must be 0 (10 MiB), -1 (unlimited) or in [1, %d], got %d", int64(maxMaxBodyBytes), r.MaxBodyBytes)
	}
	if r.MaxHeaderBytes != 0 && r.MaxHeaderBytes != Unlimited && (r.MaxHeaderBytes < 1 || r.MaxHeaderBytes > maxMaxHeaderBytes) {
		p.addf(path+".max_header_bytes", "must be 0 (32 KiB), -1 (unlimited) or in [1, %d], got %d", maxMaxHeaderBytes, r.MaxHeaderBytes)
	}
	if r.Policy != "" && !validName(r.Policy) {
		p.addf(path+".policy", "must name a policy of Config.Policies (letters, digits, '.', '_' or '-'), got %q", r.Policy)
	}
	validatePolicies(p, path+".policies", r.Policies)
	if r.Auth != nil {
		validateAuth(p, path, r, d)
	}
	if r.Limits != nil {
		validateLimits(p, path+".limits", r.Limits, r.Auth != nil)
	}
}

func validatePolicies(p *problems, path string, ps Policies) {
	if r := ps.Retry; r != nil {
		rp := path + ".retry"
		p.count(rp+".max_attempts", r.MaxAttempts, 1, 10, true, "3")
		p.duration(rp+".backoff", r.Backoff, true, time.Millisecond, time.Minute, "100ms")
		p.duration(rp+".max_delay", r.MaxDelay, true, cmpOr(time.Duration(r.Backoff), 100*time.Millisecond), 5*time.Minute, "2s")
		p.duration(rp+".attempt_timeout", r.AttemptTimeout, true, time.Millisecond, time.Hour, "no limit")
	}
	if b := ps.Breaker; b != nil {
		bp := path + ".breaker"
		p.count(bp+".window", b.Window, 1, 10000, true, "100")
		if b.FailureRate != 0 && !(b.FailureRate > 0 && b.FailureRate <= 100) {
			p.addf(bp+".failure_rate", "must be 0 (50) or in (0, 100], got %v", b.FailureRate)
		}
		p.count(bp+".minimum_calls", b.MinimumCalls, 1, cmpOr(b.Window, 100), true, "20 or window")
		p.count(bp+".consecutive_failures", b.ConsecutiveFailures, 1, 10000, true, "off")
		p.duration(bp+".open_wait", b.OpenWait, true, time.Millisecond, time.Hour, "10s")
	}
	if b := ps.Bulkhead; b != nil {
		bp := path + ".bulkhead"
		p.count(bp+".max_concurrent", b.MaxConcurrent, 1, 1e6, false, "")
		p.count(bp+".max_waiting", b.MaxWaiting, 0, 1e6, false, "")
		p.duration(bp+".max_wait", b.MaxWait, true, time.Millisecond, time.Minute, "100ms")
	}
	if l := ps.RateLimit; l != nil {
		lp := path + ".rate_limit"
		p.count(lp+".limit", l.Limit, 1, 1e9, false, "")
		p.duration(lp+".period", l.Period, true, time.Millisecond, 24*time.Hour, "1s")
		p.count(lp+".burst", l.Burst, 1, 1e9, true, "limit")
		if l.Limit > 0 && time.Duration(cmpOr(l.Period, Duration(time.Second))) < time.Duration(l.Limit) {
			p.addf(lp+".period", "must be at least limit nanoseconds (%d), got %v", l.Limit, time.Duration(l.Period))
		}
	}
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// splitPattern splits a ServeMux pattern into its method, host and path;
// the parts it lacks are "".
func splitPattern(pattern string) (method, host, path string) {
	rest := strings.TrimSpace(pattern)
	if i := strings.IndexAny(rest, " \t"); i >= 0 {
		method, rest = rest[:i], strings.TrimLeft(rest[i:], " \t")
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return method, rest[:i], rest[i:]
	}
	return method, rest, ""
}

// literalPrefix is the part of a pattern's path before its first wildcard.
func literalPrefix(path string) string {
	if i := strings.IndexByte(path, '{'); i >= 0 {
		return path[:i]
	}
	return path
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validPrefix accepts an absolute path of unreserved characters (so its
// escaped and unescaped forms are the same) without dot segments.
func validPrefix(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return !hasDotSegment(s)
}
