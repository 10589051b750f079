package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// tokenIssuer serves one Ed25519 key set, counts its fetches and signs
// tokens.
type tokenIssuer struct {
	priv    ed25519.PrivateKey
	url     string
	fetches atomic.Int64
}

func newTokenIssuer(t *testing.T) *tokenIssuer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	is := &tokenIssuer{priv: priv}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		is.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "kid": "k", "alg": "EdDSA", "x": base64.RawURLEncoding.EncodeToString(pub)}}})
	}))
	t.Cleanup(s.Close)
	is.url = s.URL
	return is
}

func (is *tokenIssuer) token(t *testing.T, claims jwt.MapClaims) string {
	c := jwt.MapClaims{"iss": "https://id.test", "aud": "api", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = "k"
	s, err := tok.SignedString(is.priv)
	require.NoError(t, err)
	return s
}

// authDoc has a route with auth and per-subject limits, an optional-auth
// route and a route without auth, all to one upstream that echoes the
// X-User-Id it gets.
const authDoc = `
jwt:
  issuers:
    - iss: https://id.test
      jwks_url: {jwks}
      algorithms: [EdDSA]
      audiences: [api]
upstreams:
  app: {endpoints: ["{app}"]}
routes:
  - name: orders
    match: /orders/
    upstream: app
    auth:
      scopes: [orders:read]
      required_claims: [tenant]
      forward_claims: {sub: X-User-Id}
    limits:
      key_by: [subject, ip]
      windows: [{name: minute, limit: 2, period: 1m}, {limit: 100, period: 24h}]
  - name: public
    match: /public/
    upstream: app
    auth: {required: false, forward_claims: {sub: X-User-Id}}
  - name: health
    match: /health
    upstream: app
`

func userEcho(hits *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("user=" + r.Header.Get("X-User-Id")))
	}
}

func authed(t *testing.T, url, token string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, req)
}

// TestRouteAuthThenSubjectLimits: auth runs first (401/403 never reach the
// upstream, a forged forwarded header is replaced), and the limits count
// the subject auth verified: alice is limited, bob from the same address
// is not.
func TestRouteAuthThenSubjectLimits(t *testing.T) {
	is := newTokenIssuer(t)
	var hits atomic.Int64
	app := upstream(t, userEcho(&hits))
	_, srv := start(t, doc(t, authDoc, "{jwks}", is.url, "{app}", app), testConfig(), "/health")
	hits.Store(0)

	code, _, h := authed(t, srv.URL+"/orders/1", "")
	assert.Equal(t, 401, code)
	assert.Contains(t, h.Get("WWW-Authenticate"), "Bearer")
	noScope := is.token(t, jwt.MapClaims{"sub": "alice", "tenant": "t1"})
	code, _, _ = authed(t, srv.URL+"/orders/1", noScope)
	assert.Equal(t, 403, code)
	noTenant := is.token(t, jwt.MapClaims{"sub": "alice", "scope": "orders:read"})
	code, _, _ = authed(t, srv.URL+"/orders/1", noTenant)
	assert.Equal(t, 401, code)
	assert.Zero(t, hits.Load(), "refused requests must not reach the upstream")

	alice := is.token(t, jwt.MapClaims{"sub": "alice", "tenant": "t1", "scope": "orders:read"})
	code, body, h := authed(t, srv.URL+"/orders/1", alice, "X-User-Id", "mallory")
	assert.Equal(t, 200, code)
	assert.Equal(t, "user=alice", body, "the forwarded claim replaces the client's header")
	assert.Equal(t, `"minute";q=2;w=60, "100-per-86400s";q=100;w=86400`, h.Get("RateLimit-Policy"))
	code, _, _ = authed(t, srv.URL+"/orders/2", alice)
	assert.Equal(t, 200, code)
	code, _, h = authed(t, srv.URL+"/orders/3", alice)
	assert.Equal(t, 429, code)
	assert.NotEmpty(t, h.Get("Retry-After"))
	assert.True(t, strings.HasPrefix(h.Get("RateLimit"), `"minute";r=0`), h.Get("RateLimit"))
	bob := is.token(t, jwt.MapClaims{"sub": "bob", "tenant": "t1", "scope": "orders:read"})
	code, body, _ = authed(t, srv.URL+"/orders/1", bob)
	assert.Equal(t, 200, code, "bob is another client, though from the same address")
	assert.Equal(t, "user=bob", body)
	assert.Equal(t, int64(3), hits.Load())
	assert.Equal(t, int64(1), is.fetches.Load(), "one key set fetch: the verifier is shared")
}

// TestOptionalAuth: without an Authorization header the request passes
// anonymously, its forged forwarded header removed; a bad token is still
// refused.
func TestOptionalAuth(t *testing.T) {
	is := newTokenIssuer(t)
	var hits atomic.Int64
	app := upstream(t, userEcho(&hits))
	_, srv := start(t, doc(t, authDoc, "{jwks}", is.url, "{app}", app), testConfig(), "/health")

	code, body, _ := authed(t, srv.URL+"/public/x", "", "X-User-Id", "mallory")
	assert.Equal(t, 200, code)
	assert.Equal(t, "user=", body)
	code, body, _ = authed(t, srv.URL+"/public/x", is.token(t, jwt.MapClaims{"sub": "carol"}))
	assert.Equal(t, 200, code)
	assert.Equal(t, "user=carol", body)
	code, _, _ = authed(t, srv.URL+"/public/x", "not.a.token")
	assert.Equal(t, 401, code)
}

// TestVerifierRebuiltOnlyWhenJWTChanges: Run fetches the key set once; a
// reload that changes only routes keeps the verifier (no new fetch) and
// the limit windows (alice stays limited); one that changes the jwt
// section makes a new verifier, which Run then runs (a new fetch).
func TestVerifierRebuiltOnlyWhenJWTChanges(t *testing.T) {
	is := newTokenIssuer(t)
	var hits atomic.Int64
	app := upstream(t, userEcho(&hits))
	g, srv := start(t, doc(t, authDoc, "{jwks}", is.url, "{app}", app), testConfig(), "/health")
	require.Eventually(t, func() bool { return is.fetches.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	alice := is.token(t, jwt.MapClaims{"sub": "alice", "tenant": "t1", "scope": "orders:read"})
	for range 2 {
		code, _, _ := authed(t, srv.URL+"/orders/1", alice)
		require.Equal(t, 200, code)
	}
	require.NoError(t, g.Reload(doc(t, authDoc+"  - {name: extra, match: /extra/, upstream: app}\n", "{jwks}", is.url, "{app}", app)))
	code, _, _ := authed(t, srv.URL+"/orders/1", alice)
	assert.Equal(t, 429, code, "a reload keeps the windows of unchanged limits")
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, int64(1), is.fetches.Load(), "an unchanged jwt section keeps its verifier")

	changed := strings.Replace(authDoc, "audiences: [api]", "audiences: [api]\n  leeway: 10s", 1)
	require.NoError(t, g.Reload(doc(t, changed, "{jwks}", is.url, "{app}", app)))
	require.Eventually(t, func() bool { return is.fetches.Load() == 2 }, 5*time.Second, 5*time.Millisecond, "a changed jwt section makes and runs a new verifier")
}

// recordingStore is a ratelimit.Store that remembers the keys it is asked
// for and permits everything.
type recordingStore struct {
	mu   sync.Mutex
	keys []string
}

func (s *recordingStore) Take(_ context.Context, key string, _ ratelimit.Rule, _ time.Time) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, key)
	return 0, nil
}

// TestRateLimitStore: with Config.RateLimitStore the windows keep their
// state there, each under the prefix of its gateway, route and window.
func TestRateLimitStore(t *testing.T) {
	is := newTokenIssuer(t)
	var hits atomic.Int64
	app := upstream(t, userEcho(&hits))
	store := &recordingStore{}
	cfg := testConfig()
	cfg.RateLimitStore = store
	_, srv := start(t, doc(t, authDoc, "{jwks}", is.url, "{app}", app), cfg, "/health")
	alice := is.token(t, jwt.MapClaims{"sub": "alice", "tenant": "t1", "scope": "orders:read"})
	for range 3 {
		code, _, _ := authed(t, srv.URL+"/orders/1", alice)
		require.Equal(t, 200, code)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	require.Len(t, store.keys, 6)
	assert.Equal(t, "gateway:orders:minute:sub:https://id.test alice", store.keys[0])
	assert.Equal(t, "gateway:orders:100-per-86400s:sub:https://id.test alice", store.keys[1])
}

// TestAuthAndLimitsValidation: every mistake is reported with the field
// that holds it.
func TestAuthAndLimitsValidation(t *testing.T) {
	_, err := gateway.Parse([]byte(`
jwt:
  issuers:
    - {iss: "", jwks_url: "ftp://x", algorithms: [none], audiences: []}
  refresh_interval: 1s
  cache_size: -2
upstreams:
  app: {endpoints: ["127.0.0.1:1"]}
routes:
  - match: /a/
    upstream: app
    auth: {scopes: ["a b"], required_claims: [""], forward_claims: {sub: Authorization, tid: "bad header"}}
    limits: {key_by: [subject, cookie], windows: [{limit: 0, period: 1500ms}], cost: 1001}
  - match: /b/
    upstream: app
    limits: {key_by: [subject], windows: []}
`))
	require.Error(t, err)
	for _, want := range []string{
		"jwt.issuers[0].iss:", "jwt.issuers[0].jwks_url:", "jwt.issuers[0].algorithms[0]:", "jwt.issuers[0].audiences:",
		"jwt.refresh_interval:", "jwt.cache_size: must be 0 (4096), -1 (no cache) or in [1, 1048576], got -2",
		"routes[0].auth.scopes[0]:", "routes[0].auth.required_claims[0]:", "routes[0].auth.forward_claims.sub: must not be Authorization",
		"routes[0].auth.forward_claims.tid: must be a header name",
		"routes[0].limits.key_by[1]:", "routes[0].limits.windows[0].limit:", "routes[0].limits.windows[0].period: must be a whole number of seconds",
		"routes[0].limits.cost:",
		"routes[1].limits.key_by[0]: \"subject\" needs the route's auth section", "routes[1].limits.windows:",
	} {
		assert.Contains(t, err.Error(), want)
	}
	for size, ok := range map[string]bool{"-1": true, "1": true, "1048576": true, "1048577": false, "-3": false} {
		_, err := gateway.Parse([]byte("jwt: {issuers: [{iss: i, jwks_url: \"https://id.test/jwks\", algorithms: [RS256], audiences: [a]}], cache_size: " + size + "}\nupstreams: {app: {endpoints: [\"127.0.0.1:1\"]}}\nroutes: [{match: /a/, upstream: app, auth: {}}]\n"))
		if ok {
			assert.NoError(t, err, "cache_size %s", size)
		} else {
			assert.ErrorContains(t, err, "jwt.cache_size:", "cache_size %s", size)
		}
	}
	_, err = gateway.Parse([]byte("upstreams: {app: {endpoints: [\"127.0.0.1:1\"]}}\nroutes: [{match: /a/, upstream: app, auth: {}}]\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "routes[0].auth: needs the document's jwt section")
}

// TestLimitsByAPIKeyWithCost: without auth, clients are told apart by
// their API key (in the configured header), and each request costs the
// route's cost.
func TestLimitsByAPIKeyWithCost(t *testing.T) {
	var hits atomic.Int64
	app := upstream(t, userEcho(&hits))
	_, srv := start(t, doc(t, `
upstreams:
  app: {endpoints: ["{app}"]}
routes:
  - {name: health, match: /health, upstream: app}
  - name: search
    match: /search
    upstream: app
    limits: {key_by: [api_key, ip], api_key_header: X-Key, windows: [{limit: 4, period: 1m}], cost: 2}
`, "{app}", app), testConfig(), "/health")
	code := func(key string) int {
		c, _, _ := authed(t, srv.URL+"/search", "", "X-Key", key)
		return c
	}
	assert.Equal(t, []int{200, 200, 429}, []int{code("k1"), code("k1"), code("k1")}, "a cost of 2 in a window of 4")
	assert.Equal(t, 200, code("k2"), "another key is another client")
}

// TestTokenNotForwardedUpstream: once verified, the token does not reach
// the upstream unless the route's auth sets forward_token; the forwarded
// claims do either way. On an optional-auth route a request with a token
// loses it as on any other, and an anonymous one passes as it came.
func TestTokenNotForwardedUpstream(t *testing.T) {
	is := newTokenIssuer(t)
	app := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, sent := r.Header["Authorization"]
		_, _ = fmt.Fprintf(w, "user=%s token=%t %s", r.Header.Get("X-User-Id"), sent, r.Header.Get("Authorization"))
	})
	_, srv := start(t, doc(t, `
jwt:
  issuers: [{iss: https://id.test, jwks_url: "{jwks}", algorithms: [EdDSA], audiences: [api]}]
upstreams:
  app: {endpoints: ["{app}"]}
routes:
  - {match: /orders/, upstream: app, auth: {forward_claims: {sub: X-User-Id}}}
  - {match: /relay/, upstream: app, auth: {forward_claims: {sub: X-User-Id}, forward_token: true}}
  - {match: /public/, upstream: app, auth: {required: false, forward_claims: {sub: X-User-Id}}}
  - {match: /health, upstream: app}
`, "{jwks}", is.url, "{app}", app), testConfig(), "/health")

	tok := is.token(t, jwt.MapClaims{"sub": "alice"})
	code, body, _ := authed(t, srv.URL+"/orders/1", tok)
	assert.Equal(t, 200, code)
	assert.Equal(t, "user=alice token=false ", body, "the default: claims, no token")
	code, body, _ = authed(t, srv.URL+"/relay/1", tok)
	assert.Equal(t, 200, code)
	assert.Equal(t, "user=alice token=true Bearer "+tok, body, "forward_token: true")
	code, body, _ = authed(t, srv.URL+"/public/1", tok)
	assert.Equal(t, 200, code)
	assert.Equal(t, "user=alice token=false ", body, "optional auth with a token: verified, then removed")
	code, body, _ = authed(t, srv.URL+"/public/1", "", "X-User-Id", "mallory")
	assert.Equal(t, 200, code)
	assert.Equal(t, "user= token=false ", body, "optional auth without a token: anonymous")
	code, body, _ = authed(t, srv.URL+"/health", tok)
	assert.Equal(t, 200, code)
	assert.Equal(t, "user= token=true Bearer "+tok, body, "a route without auth passes the header as it came")
}

// TestComposePartsListingAuthorizationNeedForwardToken: a composed part
// that lists Authorization would never get it while auth removes it, so
// the document is refused unless auth sets forward_token.
func TestComposePartsListingAuthorizationNeedForwardToken(t *testing.T) {
	const text = `
jwt:
  issuers: [{iss: i, jwks_url: "https://id.test/jwks", algorithms: [RS256], audiences: [a]}]
upstreams:
  orders: {endpoints: ["127.0.0.1:1"]}
routes:
  - match: "GET /view/{id}"
    auth: {%s}
    compose:
      parts: [{key: order, upstream: orders, path: "/orders/{id}", headers: [X-Tenant, authorization]}]
`
	_, err := gateway.Parse([]byte(fmt.Sprintf(text, "")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "routes[0].compose.parts[0].headers[1]: Authorization reaches the parts only with routes[0].auth.forward_token: true")
	_, err = gateway.Parse([]byte(fmt.Sprintf(text, "forward_token: true")))
	assert.NoError(t, err)
}
