package jwtauth_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

func TestMissingTokenChallenge(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	obs := &recorder{}
	h, up := f.route(t, jwtauth.RouteConfig{Realm: "orders", Name: "orders", Observer: obs})
	for name, auth := range map[string]string{
		"none":         "",
		"basic":        "Basic dXNlcjpwYXNz",
		"empty bearer": "Bearer ",
	} {
		t.Run(name, func(t *testing.T) {
			w := serve(t, h, "", "Authorization", auth)
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Equal(t, `Bearer realm="orders"`, w.Header().Get("WWW-Authenticate"))
			var p map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
			assert.Equal(t, "The request has no bearer token.", p["detail"])
		})
	}
	assert.Equal(t, int64(0), up.hits.Load())
	assert.Equal(t, int64(0), f.jwks.hits.Load())
	require.NotEmpty(t, obs.events)
	assert.Equal(t, jwtauth.Rejected{Name: "orders", Status: 401, Reason: "the request has no bearer token"}, obs.events[0])

	// Two Authorization headers are refused, not guessed between.
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	w := serve(t, h, tok, "Authorization", "Bearer "+tok)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	// The scheme is case-insensitive.
	w = serve(t, h, "", "Authorization", "bearer "+tok)
	assert.Equal(t, http.StatusNoContent, w.Code)
}

func TestScopesAndRequiredClaims(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	obs := &recorder{}
	h, up := f.route(t, jwtauth.RouteConfig{Realm: "api", Scopes: []string{"orders:read", "orders:write"}, RequiredClaims: []string{"tenant"}, Observer: obs})

	w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"tenant": "t1", "scope": "orders:read"})))
	assert.Equal(t, http.StatusForbidden, w.Code)
	assert.Equal(t, `Bearer realm="api", error="insufficient_scope", error_description="the token lacks the scope 'orders:write'", scope="orders:read orders:write"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.Equal(t, jwtauth.Rejected{Status: 403, Reason: `the token lacks the scope "orders:write"`, Subject: "user-42"}, obs.events[0])

	w = serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"scope": "orders:read orders:write"})))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="api", error="invalid_token", error_description="the token lacks the claim 'tenant'"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, int64(0), up.hits.Load())

	// scp as a list serves as well as scope.
	w = serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"tenant": "t1", "scp": []string{"orders:write", "orders:read"}})))
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, int64(1), up.hits.Load())
}

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := jwtauth.Issuer{Issuer: "i", JWKSURL: "https://id.test/jwks", Algorithms: []string{"RS256"}, Audiences: []string{"a"}}
	for want, cfg := range map[string]jwtauth.Config{
		"Config.Issuers must list":                 {},
		"Config.Issuers[0].Issuer":                 {Issuers: []jwtauth.Issuer{{JWKSURL: ok.JWKSURL, Algorithms: ok.Algorithms, Audiences: ok.Audiences}}},
		"Config.Issuers[0].JWKSURL":                {Issuers: []jwtauth.Issuer{{Issuer: "i", JWKSURL: "ftp://x", Algorithms: ok.Algorithms, Audiences: ok.Audiences}}},
		"Config.Issuers[0].Algorithms must list":   {Issuers: []jwtauth.Issuer{{Issuer: "i", JWKSURL: ok.JWKSURL, Audiences: ok.Audiences}}},
		"Config.Issuers[0].Algorithms[1]":          {Issuers: []jwtauth.Issuer{{Issuer: "i", JWKSURL: ok.JWKSURL, Algorithms: []string{"RS256", "rs256"}, Audiences: ok.Audiences}}},
		"Config.Issuers[0].Audiences must list":    {Issuers: []jwtauth.Issuer{{Issuer: "i", JWKSURL: ok.JWKSURL, Algorithms: ok.Algorithms}}},
		"Config.Issuers[1].Issuer \"i\" is listed": {Issuers: []jwtauth.Issuer{ok, ok}},
		"Config.Leeway":                            {Issuers: []jwtauth.Issuer{ok}, Leeway: time.Hour},
		"Config.MaxTokenBytes":                     {Issuers: []jwtauth.Issuer{ok}, MaxTokenBytes: 10},
		"Config.FetchTimeout":                      {Issuers: []jwtauth.Issuer{ok}, FetchTimeout: -time.Second},
		"Config.MinRefreshInterval":                {Issuers: []jwtauth.Issuer{ok}, MinRefreshInterval: time.Millisecond},
		"Config.RefreshInterval":                   {Issuers: []jwtauth.Issuer{ok}, RefreshInterval: time.Second},
		"Config.MaxJWKSBytes":                      {Issuers: []jwtauth.Issuer{ok}, MaxJWKSBytes: 1},
		"Config.CacheSize must be jwtauth.NoCache or in [1, 1048576] (0 means 4096), got -2":      {Issuers: []jwtauth.Issuer{ok}, CacheSize: -2},
		"Config.CacheSize must be jwtauth.NoCache or in [1, 1048576] (0 means 4096), got 1048577": {Issuers: []jwtauth.Issuer{ok}, CacheSize: 1<<20 + 1},
	} {
		_, err := jwtauth.New(cfg)
		assert.ErrorContains(t, err, "jwtauth: "+want)
	}
	v, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{ok}})
	require.NoError(t, err)
	for want, cfg := range map[string]jwtauth.RouteConfig{
		"RouteConfig.Realm":                                             {Realm: `a"b`},
		"RouteConfig.RequiredClaims[0]":                                 {RequiredClaims: []string{""}},
		"RouteConfig.Scopes[0]":                                         {Scopes: []string{"a b"}},
		"RouteConfig.ForwardClaims[0].Claim":                            {ForwardClaims: []jwtauth.ForwardedClaim{{Header: "X-A"}}},
		"RouteConfig.ForwardClaims[0].Header must be a header":          {ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "a", Header: "X A"}}},
		"RouteConfig.ForwardClaims[0].Header must not be Authorization": {ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "a", Header: "authorization"}}},
		"RouteConfig.ForwardClaims[1].Header X-A is listed twice":       {ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "a", Header: "X-A"}, {Claim: "b", Header: "x-a"}}},
	} {
		_, err := jwtauth.NewRoute(v, cfg)
		assert.ErrorContains(t, err, "jwtauth: "+want)
	}
	_, err = jwtauth.NewRoute(nil, jwtauth.RouteConfig{})
	assert.ErrorContains(t, err, "needs a Verifier")
	assert.PanicsWithValue(t, "jwtauth: Route used without NewRoute", func() { (&jwtauth.Route{}).Handler(nil) })
	assert.PanicsWithValue(t, "jwtauth: Verifier used without New", func() { _, _ = (&jwtauth.Verifier{}).Verify(context.Background(), "") })
}

func TestRunRefreshesPeriodicallyAndStops(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- f.v.Run(ctx) }()
	f.clock.BlockUntil(1) // the first fetch is done, the timer set
	assert.Equal(t, int64(1), f.jwks.hits.Load())
	// Keys rotated between refreshes are picked up by the next one, with no
	// token asking.
	f.jwks.setKeys(rsaJWK("k2", rsaKey2, "RS256"))
	f.clock.Advance(jwtauth.DefaultRefreshInterval)
	f.clock.BlockUntil(1)
	assert.Equal(t, int64(2), f.jwks.hits.Load())
	_, err := f.v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil)))
	require.NoError(t, err)
	assert.Equal(t, int64(2), f.jwks.hits.Load(), "served from the periodic refresh")
	assert.ErrorIs(t, f.v.Run(ctx), bulwark.ErrRunning)

	require.NoError(t, f.v.Close(ctx))
	require.NoError(t, <-done)
	assert.ErrorIs(t, f.v.Run(ctx), bulwark.ErrClosed)
	for _, e := range f.obs.events {
		if e, ok := e.(jwtauth.KeysFetched); ok {
			assert.Equal(t, jwtauth.CausePeriodic, e.Cause)
			assert.Equal(t, 1, e.Keys)
		}
	}
}

func TestRunReturnsContextError(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.v.Run(ctx) }()
	f.clock.BlockUntil(1)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestDefaultConfigIsTheZeroConfig(t *testing.T) {
	d := jwtauth.DefaultConfig()
	assert.Equal(t, jwtauth.Config{Leeway: 30 * time.Second, MaxTokenBytes: 8192, FetchTimeout: 5 * time.Second, MinRefreshInterval: 30 * time.Second, RefreshInterval: time.Hour, MaxJWKSBytes: 1 << 20, CacheSize: 4096}, d)
	d.Issuers = []jwtauth.Issuer{{Issuer: "i", JWKSURL: "https://id.test/jwks", Algorithms: []string{"RS256"}, Audiences: []string{"a"}}}
	_, err := jwtauth.New(d)
	require.NoError(t, err)
}

// TestTokenNotForwardedByDefault: a verified request reaches the next
// handler without its Authorization header, with the forwarded claims and
// the Principal; the caller's own request keeps the header. ForwardToken
// passes it on unchanged.
func TestTokenNotForwardedByDefault(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	fc := []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}}

	h, up := f.route(t, jwtauth.RouteConfig{ForwardClaims: fc})
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, http.StatusNoContent, w.Code)
	_, sent := up.header["Authorization"]
	assert.False(t, sent, "the upstream must not get the verified token")
	assert.Equal(t, "user-42", up.header.Get("X-User-Id"))
	assert.Equal(t, "application/json", up.header.Get("Accept"), "other headers pass")
	require.NotNil(t, up.principal)
	assert.Equal(t, "user-42", up.principal.Subject)
	assert.Equal(t, "Bearer "+tok, r.Header.Get("Authorization"), "the caller's request keeps its header")

	h, up = f.route(t, jwtauth.RouteConfig{ForwardClaims: fc, ForwardToken: true})
	w = serve(t, h, tok)
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, []string{"Bearer " + tok}, up.header.Values("Authorization"))
	assert.Equal(t, "user-42", up.header.Get("X-User-Id"))
}
