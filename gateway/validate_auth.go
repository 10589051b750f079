package gateway

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// jwtAlgorithms are the algorithms a jwt issuer may allow.
var jwtAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"}

func validateJWT(p *problems, j *JWT) {
	if len(j.Issuers) == 0 {
		p.addf("jwt.issuers", "must list at least one issuer")
	}
	seen := map[string]int{}
	for i, is := range j.Issuers {
		path := fmt.Sprintf("jwt.issuers[%d]", i)
		if is.Issuer == "" {
			p.addf(path+".iss", "the issuer's exact \"iss\" value is required")
		} else if k, dup := seen[is.Issuer]; dup {
			p.addf(path+".iss", "%q is also the iss of jwt.issuers[%d]", is.Issuer, k)
		} else {
			seen[is.Issuer] = i
		}
		if u, err := url.Parse(is.JWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.addf(path+".jwks_url", "must be an http or https URL, got %q", is.JWKSURL)
		}
		if len(is.Algorithms) == 0 {
			p.addf(path+".algorithms", "must list at least one algorithm (RS256, ES256, EdDSA...); none is assumed")
		}
		for k, a := range is.Algorithms {
			if !slices.Contains(jwtAlgorithms, a) {
				p.addf(fmt.Sprintf("%s.algorithms[%d]", path, k), "must be one of %s, got %q", strings.Join(jwtAlgorithms, ", "), a)
			}
		}
		if len(is.Audiences) == 0 {
			p.addf(path+".audiences", "must list at least one audience")
		}
		for k, a := range is.Audiences {
			if a == "" {
				p.addf(fmt.Sprintf("%s.audiences[%d]", path, k), "must not be empty")
			}
		}
	}
	p.duration("jwt.leeway", j.Leeway, true, time.Millisecond, 5*time.Minute, "30s")
	p.count("jwt.max_token_bytes", j.MaxTokenBytes, 256, 1<<20, true, "8192")
	p.duration("jwt.fetch_timeout", j.FetchTimeout, true, time.Millisecond, time.Minute, "5s")
	p.duration("jwt.min_refresh_interval", j.MinRefreshInterval, true, time.Second, time.Hour, "30s")
	p.duration("jwt.refresh_interval", j.RefreshInterval, true, time.Minute, 168*time.Hour, "1h")
	if n := j.CacheSize; n != 0 && n != jwtauth.NoCache && (n < 1 || n > 1<<20) {
		p.addf("jwt.cache_size", "must be 0 (4096), -1 (no cache) or in [1, 1048576], got %d", n)
	}
}

// forwardReserved are the headers a forwarded claim may not take over
// (jwtauth refuses them too).
var forwardReserved = []string{"Authorization", "Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", HeaderRequestID}

// validateAuth checks the auth section of the route at rp.
func validateAuth(p *problems, rp string, r Route, d *Document) {
	a, path := r.Auth, rp+".auth"
	if d.JWT == nil {
		p.addf(path, "needs the document's jwt section, which lists the issuers tokens are checked against")
	}
	if c := r.Compose; c != nil && !a.ForwardToken {
		// The parts would never get the header they list: auth removes it.
		for i, part := range c.Parts {
			for j, h := range part.Headers {
				if http.CanonicalHeaderKey(h) == "Authorization" {
					p.addf(fmt.Sprintf("%s.compose.parts[%d].headers[%d]", rp, i, j), "Authorization reaches the parts only with %s.forward_token: true (auth removes the verified token by default)", path)
				}
			}
		}
	}
	for i, s := range a.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			p.addf(fmt.Sprintf("%s.scopes[%d]", path, i), "must be a scope without spaces, quotes or backslashes, got %q", s)
		}
	}
	for i, c := range a.RequiredClaims {
		if c == "" {
			p.addf(fmt.Sprintf("%s.required_claims[%d]", path, i), "must not be empty")
		}
	}
	headers := map[string]string{}
	for _, claim := range slices.Sorted(maps.Keys(a.ForwardClaims)) {
		h := a.ForwardClaims[claim]
		fp := path + ".forward_claims." + claim
		ch := http.CanonicalHeaderKey(h)
		switch {
		case claim == "":
			p.addf(path+".forward_claims", "a claim name must not be empty")
		case !validHeaderName(h):
			p.addf(fp, "must be a header name, got %q", h)
		case slices.Contains(forwardReserved, ch):
			p.addf(fp, "must not be %s, which the gateway or HTTP owns", ch)
		case headers[ch] != "":
			p.addf(fp, "header %s also carries claim %q", ch, headers[ch])
		default:
			headers[ch] = claim
		}
	}
	if strings.ContainsAny(a.Realm, "\"\\\r\n") {
		p.addf(path+".realm", "must not hold quotes, backslashes or line breaks, got %q", a.Realm)
	}
}

func validateLimits(p *problems, path string, l *Limits, auth bool) {
	for i, k := range l.KeyBy {
		kp := fmt.Sprintf("%s.key_by[%d]", path, i)
		switch k {
		case "subject":
			if !auth {
				p.addf(kp, "\"subject\" needs the route's auth section, which verifies the token the subject comes from")
			}
		case "api_key", "ip":
		default:
			p.addf(kp, "must be \"subject\", \"api_key\" or \"ip\", got %q", k)
		}
	}
	if l.APIKeyHeader != "" && !validHeaderName(l.APIKeyHeader) {
		p.addf(path+".api_key_header", "must be a header name, got %q", l.APIKeyHeader)
	}
	if len(l.Windows) == 0 || len(l.Windows) > 8 {
		p.addf(path+".windows", "must list 1 to 8 windows, got %d", len(l.Windows))
	}
	names := map[string]int{}
	for i, w := range l.Windows {
		wp := fmt.Sprintf("%s.windows[%d]", path, i)
		p.count(wp+".limit", w.Limit, 1, 1e9, false, "")
		per := time.Duration(w.Period)
		switch {
		case per < time.Second || per > 720*time.Hour:
			p.addf(wp+".period", "must be in [1s, 720h], got %v", per)
		case per%time.Second != 0:
			p.addf(wp+".period", "must be a whole number of seconds, got %v", per)
		}
		name := w.windowName()
		if strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c > 0x7e || c == '"' || c == '\\' }) {
			p.addf(wp+".name", "must be printable ASCII without quotes or backslashes, got %q", name)
		}
		if j, dup := names[name]; dup {
			p.addf(wp+".name", "%q is also the name of windows[%d]", name, j)
		}
		names[name] = i
	}
	p.count(path+".cost", l.Cost, 1, 1000, true, "1")
}

// windowName is the window's name: Name, or "<limit>-per-<seconds>s".
func (w LimitWindow) windowName() string {
	if w.Name != "" {
		return w.Name
	}
	return fmt.Sprintf("%d-per-%ds", w.Limit, int64(time.Duration(w.Period)/time.Second))
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
