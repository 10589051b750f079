package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// ForwardedClaim names a claim to pass to the upstream and the request
// header that carries it.
type ForwardedClaim struct {
	// Claim is the claim's name in the token ("sub", "tenant"...).
	Claim string
	// Header is the request header that carries it ("X-User-Id"). Any copy
	// the client sent is removed first, whether or not the token has the
	// claim.
	Header string
}

// RouteConfig configures the Route middleware of one route. Its zero value
// accepts any valid token and forwards nothing: no claim, not the token.
type RouteConfig struct {
	// Realm, when not "", is sent as the realm of WWW-Authenticate.
	Realm string
	// RequiredClaims lists claims the token must carry (with any value
	// but null); a token without one is refused with 401.
	RequiredClaims []string
	// Scopes lists the scopes the token must hold, all of them (see
	// Principal.Scopes); a token without one is refused with 403.
	Scopes []string
	// ForwardClaims lists the claims passed to the upstream as request
	// headers. Strings go as they are, numbers and booleans in JSON form,
	// lists of strings joined by ", ", anything else as JSON. A value
	// holding control characters is not forwarded.
	ForwardClaims []ForwardedClaim
	// ForwardToken, when true, passes the client's Authorization header to
	// the next handler. By default (false) the next handler gets the
	// request without it once the token is verified, as Envoy's jwt_authn
	// does unless its "forward" is set: the upstream learns who the caller
	// is from ForwardClaims and the Principal in the context, the bearer
	// token (a credential the upstream could replay) stays at the edge,
	// and the upstream hop does not carry its few hundred bytes. Set it
	// for an upstream that verifies the token again or passes it on.
	ForwardToken bool
	// Name identifies the Route in its events. Optional.
	Name string
	// Observer receives a Rejected event for each refused request. Nil
	// observes nothing.
	Observer bulwark.Observer
}

// Route is net/http middleware that lets a request through only with a
// valid bearer token (RFC 6750) that carries the route's required claims
// and scopes. It answers, as application/problem+json and before the next
// handler sees anything:
//
//   - 401 with `WWW-Authenticate: Bearer realm="..."` when the request has
//     no bearer token;
//   - 401 with `WWW-Authenticate: Bearer error="invalid_token",
//     error_description="..."` when Verifier.Verify refuses the token or a
//     required claim is missing;
//   - 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
//     scope="..."` when a required scope is missing.
//
// On success it removes every forwarded-claim header the client sent, sets
// them from the token, puts the Principal in the request's context
// (FromContext) and calls the next handler with a copy of the request
// whose header has no Authorization field, unless RouteConfig.ForwardToken
// is set (then with the header as the client sent it). The caller's own
// request keeps its Authorization header either way: the Route removes it
// from a copy of the header, so a handler wrapping the Route can still
// read it after ServeHTTP returns. It is safe for concurrent use.
type Route struct {
	v   *Verifier
	cfg RouteConfig
}

// NewRoute returns the Route middleware of one route, or an error when v is
// nil or a setting of cfg is invalid.
func NewRoute(v *Verifier, cfg RouteConfig) (*Route, error) {
	if v == nil {
		return nil, errors.New("jwtauth: NewRoute needs a Verifier, got nil")
	}
	if strings.ContainsAny(cfg.Realm, "\"\\\r\n") {
		return nil, fmt.Errorf("jwtauth: RouteConfig.Realm must not hold quotes, backslashes or line breaks, got %q", cfg.Realm)
	}
	for i, c := range cfg.RequiredClaims {
		if c == "" {
			return nil, fmt.Errorf("jwtauth: RouteConfig.RequiredClaims[%d] must not be empty", i)
		}
	}
	for i, s := range cfg.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return nil, fmt.Errorf("jwtauth: RouteConfig.Scopes[%d] must be a non-empty scope token without spaces, quotes or backslashes, got %q", i, s)
		}
	}
	seen := map[string]bool{}
	fc := make([]ForwardedClaim, len(cfg.ForwardClaims))
	for i, f := range cfg.ForwardClaims {
		h := http.CanonicalHeaderKey(f.Header)
		switch {
		case f.Claim == "":
			return nil, fmt.Errorf("jwtauth: RouteConfig.ForwardClaims[%d].Claim must not be empty", i)
		case !validToken(f.Header):
			return nil, fmt.Errorf("jwtauth: RouteConfig.ForwardClaims[%d].Header must be a header name, got %q", i, f.Header)
		case reserved[h]:
			return nil, fmt.Errorf("jwtauth: RouteConfig.ForwardClaims[%d].Header must not be %s, which the gateway or HTTP owns", i, h)
		case seen[h]:
			return nil, fmt.Errorf("jwtauth: RouteConfig.ForwardClaims[%d].Header %s is listed twice", i, h)
		}
		seen[h] = true
		fc[i] = ForwardedClaim{Claim: f.Claim, Header: h}
	}
	cfg.ForwardClaims = fc
	return &Route{v: v, cfg: cfg}, nil
}

// reserved are the headers a forwarded claim may not take over.
var reserved = map[string]bool{
	"Authorization": true, "Host": true, "Content-Length": true, "Content-Type": true,
	"Transfer-Encoding": true, "Connection": true, "Upgrade": true, "Te": true, "Trailer": true,
	"Cookie": true, "Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// Handler returns next behind the Route.
func (rt *Route) Handler(next http.Handler) http.Handler {
	if rt == nil || rt.v == nil {
		panic("jwtauth: Route used without NewRoute")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, f := range rt.cfg.ForwardClaims {
			r.Header.Del(f.Header)
		}
		raw, ok := bearer(r)
		if !ok {
			rt.reject(w, r, http.StatusUnauthorized, "", "the request has no bearer token", "", nil)
			return
		}
		p, err := rt.v.Verify(r.Context(), raw)
		if err != nil {
			reason := "the token is invalid"
			var ie *InvalidTokenError
			if errors.As(err, &ie) {
				reason = ie.Reason
			}
			rt.reject(w, r, http.StatusUnauthorized, "invalid_token", reason, "", err)
			return
		}
		for _, c := range rt.cfg.RequiredClaims {
			if p.Claims[c] == nil {
				rt.reject(w, r, http.StatusUnauthorized, "invalid_token", "the token lacks the claim "+strconv.Quote(c), p.Subject, nil)
				return
			}
		}
		for _, s := range rt.cfg.Scopes {
			if !p.HasScope(s) {
				rt.reject(w, r, http.StatusForbidden, "insufficient_scope", "the token lacks the scope "+strconv.Quote(s), p.Subject, nil)
				return
			}
		}
		for _, f := range rt.cfg.ForwardClaims {
			if v, ok := headerValue(p.Claims[f.Claim]); ok {
				r.Header.Set(f.Header, v)
			}
		}
		r = r.WithContext(NewContext(r.Context(), p))
		if !rt.cfg.ForwardToken {
			r.Header = withoutAuthorization(r.Header)
		}
		next.ServeHTTP(w, r)
	})
}

// withoutAuthorization returns a copy of h without its Authorization
// field: the values of the other fields are copied as http.Header.Clone
// copies them, so the next handler may change them freely.
func withoutAuthorization(h http.Header) http.Header {
	c := h.Clone()
	delete(c, "Authorization")
	return c
}

// bearer returns the token of r's one Authorization header with the Bearer
// scheme (in any letter case).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// reject answers a refused request and reports it.
func (rt *Route) reject(w http.ResponseWriter, r *http.Request, status int, code, reason, subject string, err error) {
	if rt.cfg.Observer != nil {
		rt.cfg.Observer.Observe(r.Context(), Rejected{Name: rt.cfg.Name, Status: status, Reason: reason, Subject: subject, Err: err})
	}
	var b strings.Builder
	b.WriteString("Bearer")
	sep := " "
	param := func(k, v string) {
		b.WriteString(sep)
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(v)
		b.WriteString(`"`)
		sep = ", "
	}
	if rt.cfg.Realm != "" {
		param("realm", rt.cfg.Realm)
	}
	if code != "" {
		param("error", code)
		param("error_description", strings.ReplaceAll(reason, `"`, "'"))
	}
	if code == "insufficient_scope" {
		param("scope", strings.Join(rt.cfg.Scopes, " "))
	}
	w.Header().Set("WWW-Authenticate", b.String())
	bulwarkhttp.WriteProblem(w, bulwarkhttp.Problem{Status: status, Detail: upper(reason) + "."})
}

func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// headerValue formats a claim for a header, refusing control characters.
func headerValue(v any) (string, bool) {
	var s string
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		s = v
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			es, ok := e.(string)
			if !ok {
				return jsonValue(v)
			}
			parts = append(parts, es)
		}
		s = strings.Join(parts, ", ")
	default:
		return jsonValue(v)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", false
		}
	}
	return s, true
}

func jsonValue(v any) (string, bool) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(b), true
}
