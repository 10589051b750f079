package jwtauth_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// route returns f's Verifier behind a Route with cfg in front of a fresh
// upstream.
func (f *fixture) route(t *testing.T, cfg jwtauth.RouteConfig) (http.Handler, *upstream) {
	t.Helper()
	rt, err := jwtauth.NewRoute(f.v, cfg)
	require.NoError(t, err)
	up := &upstream{}
	return rt.Handler(up), up
}

// refused asserts a 401 invalid_token answer that never reached up.
func refused(t *testing.T, w interface {
	Header() http.Header
}, code int, up *upstream, reason string) {
	t.Helper()
	assert.Equal(t, int64(0), up.hits.Load(), "the request reached the upstream")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Equal(t, `Bearer error="invalid_token", error_description="`+reason+`"`, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
}

func TestValidTokenReachesUpstreamWithPrincipal(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"scope": "orders:read orders:write"})))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.NotNil(t, up.principal)
	assert.Equal(t, "user-42", up.principal.Subject)
	assert.Equal(t, testIssuer, up.principal.Issuer)
	assert.Equal(t, []string{"orders:read", "orders:write"}, up.principal.Scopes)
	assert.Equal(t, int64(1), f.jwks.hits.Load(), "the key set is fetched once, on first use")
	w = serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil)))
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, int64(1), f.jwks.hits.Load(), "a known key is served from the cache")
}

func TestAlgNoneIsRefused(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims(nil))
	require.True(t, strings.HasSuffix(none, "."), "an unsigned token ends with an empty signature")
	w := serve(t, h, none)
	refused(t, w, w.Code, up, "the token's signing algorithm is not allowed")
	// A "none" token carrying a signature of a valid one is refused too.
	valid := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	w = serve(t, h, none+valid[strings.LastIndexByte(valid, '.')+1:])
	refused(t, w, w.Code, up, "the token's signing algorithm is not allowed")
	// Config refuses "none" in an allow-list.
	_, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{Issuer: "i", JWKSURL: "https://x/jwks", Algorithms: []string{"none"}, Audiences: []string{"a"}}}})
	assert.ErrorContains(t, err, "Config.Issuers[0].Algorithms[0]")
}

func TestKeyConfusionRSAPublicKeyAsHMACSecret(t *testing.T) {
	keys(t)
	pemLike := rsaKey.PublicKey.N.Bytes() // what an attacker can read from the key set
	forge := func() string {
		return sign(t, jwt.SigningMethodHS256, pemLike, "k1", claims(nil))
	}
	t.Run("HS256 not allowed", func(t *testing.T) {
		f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
		h, up := f.route(t, jwtauth.RouteConfig{})
		w := serve(t, h, forge())
		refused(t, w, w.Code, up, "the token's signing algorithm is not allowed")
	})
	t.Run("HS256 allowed, key without alg", func(t *testing.T) {
		// Even an allow-list that names both cannot make an RSA key an HMAC
		// secret: the key's type does not fit the algorithm.
		f := newFixture(t, []string{"RS256", "HS256"}, nil, rsaJWK("k1", rsaKey, ""))
		h, up := f.route(t, jwtauth.RouteConfig{})
		w := serve(t, h, forge())
		refused(t, w, w.Code, up, "the token's signature is invalid")
	})
	t.Run("HS256 allowed, key with alg RS256", func(t *testing.T) {
		f := newFixture(t, []string{"RS256", "HS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
		h, up := f.route(t, jwtauth.RouteConfig{})
		w := serve(t, h, forge())
		refused(t, w, w.Code, up, "the token's signing key is unknown")
	})
}

func TestAlgorithmOutsideIssuersAllowList(t *testing.T) {
	keys(t)
	// The key set holds an ES256 key, but the issuer allows RS256 only.
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"), ecJWK("e1", ecKey))
	h, up := f.route(t, jwtauth.RouteConfig{})
	w := serve(t, h, sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(nil)))
	refused(t, w, w.Code, up, "the token's signing algorithm is not allowed")
	assert.Equal(t, int64(0), f.jwks.hits.Load(), "refused before any key is looked up")

	// Per issuer: a second issuer that allows ES256 gets its tokens through,
	// the first still does not.
	jwks2 := newJWKS(t, ecJWK("e1", ecKey))
	v, err := jwtauth.New(jwtauth.Config{Clock: f.clock, Issuers: []jwtauth.Issuer{
		{Issuer: testIssuer, JWKSURL: f.jwks.URL, Algorithms: []string{"RS256"}, Audiences: []string{testAudience}},
		{Issuer: "https://other.test", JWKSURL: jwks2.URL, Algorithms: []string{"ES256"}, Audiences: []string{testAudience}},
	}})
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(jwt.MapClaims{"iss": "https://other.test"})))
	require.NoError(t, err)
	_, err = v.Verify(context.Background(), sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(nil)))
	require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
}

func TestExpiryAndNotBeforeWithLeewayEdges(t *testing.T) {
	keys(t)
	exp := epoch.Add(time.Hour)
	nbf := epoch.Add(time.Hour)
	cases := []struct {
		name   string
		claims jwt.MapClaims
		now    time.Time
		reason string // "" when valid
	}{
		{"exp: last instant within leeway", jwt.MapClaims{"exp": exp.Unix()}, exp.Add(defaultLeeway - time.Nanosecond), ""},
		{"exp: at exp+leeway", jwt.MapClaims{"exp": exp.Unix()}, exp.Add(defaultLeeway), "the token has expired"},
		{"exp: long expired", jwt.MapClaims{"exp": exp.Unix()}, exp.Add(time.Hour), "the token has expired"},
		{"exp missing", jwt.MapClaims{"exp": nil}, epoch, "the token has no expiry"},
		{"nbf: first instant within leeway", jwt.MapClaims{"nbf": nbf.Unix(), "exp": nbf.Add(time.Hour).Unix()}, nbf.Add(-defaultLeeway), ""},
		{"nbf: just before nbf-leeway", jwt.MapClaims{"nbf": nbf.Unix(), "exp": nbf.Add(time.Hour).Unix()}, nbf.Add(-defaultLeeway - time.Nanosecond), "the token is not valid yet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
			h, up := f.route(t, jwtauth.RouteConfig{})
			tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(c.claims))
			f.clock.Set(c.now)
			w := serve(t, h, tok)
			if c.reason == "" {
				assert.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
				return
			}
			refused(t, w, w.Code, up, c.reason)
		})
	}
	t.Run("NoLeeway", func(t *testing.T) {
		f := newFixture(t, []string{"RS256"}, func(c *jwtauth.Config) { c.Leeway = jwtauth.NoLeeway }, rsaJWK("k1", rsaKey, "RS256"))
		tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"exp": exp.Unix()}))
		f.clock.Set(exp.Add(-time.Nanosecond))
		_, err := f.v.Verify(context.Background(), tok)
		require.NoError(t, err)
		f.clock.Set(exp)
		_, err = f.v.Verify(context.Background(), tok)
		require.ErrorIs(t, err, jwt.ErrTokenExpired)
	})
}

func TestWrongAudienceAndIssuer(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	for _, c := range []struct {
		name   string
		claims jwt.MapClaims
		reason string
	}{
		{"other audience", jwt.MapClaims{"aud": "billing-api"}, "the token is not meant for this service"},
		{"no audience", jwt.MapClaims{"aud": nil}, "the token is not meant for this service"},
		{"audience list without ours", jwt.MapClaims{"aud": []string{"a", "b"}}, "the token is not meant for this service"},
		{"other issuer", jwt.MapClaims{"iss": "https://evil.test"}, "the token's issuer is not trusted"},
		{"issuer with trailing slash", jwt.MapClaims{"iss": testIssuer + "/"}, "the token's issuer is not trusted"},
		{"no issuer", jwt.MapClaims{"iss": nil}, "the token's issuer is not trusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(c.claims)))
			refused(t, w, w.Code, up, c.reason)
		})
	}
	w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"aud": []string{"x", testAudience}})))
	assert.Equal(t, http.StatusNoContent, w.Code, "one audience of several is ours")
}

func TestTamperedSignatureAndPayload(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	parts := strings.Split(tok, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[10] == 'A' {
			b[10] = 'B'
		} else {
			b[10] = 'A'
		}
		return string(b)
	}
	other := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"sub": "admin"}))
	for name, bad := range map[string]string{
		"signature byte":        parts[0] + "." + parts[1] + "." + flip(parts[2]),
		"payload swapped":       parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2],
		"signed by another key": sign(t, jwt.SigningMethodRS256, rsaKey2, "k1", claims(nil)),
	} {
		t.Run(name, func(t *testing.T) {
			w := serve(t, h, bad)
			refused(t, w, w.Code, up, "the token's signature is invalid")
		})
	}
}

func TestMalformedAndOversizedTokens(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	for name, bad := range map[string]string{
		"one part":        "abc",
		"two parts":       "abc.def",
		"four parts":      "a.b.c.d",
		"bad base64":      "!!!.???.***",
		"header not json": b64([]byte("nope")) + "." + b64([]byte("{}")) + ".sig",
	} {
		t.Run(name, func(t *testing.T) {
			w := serve(t, h, bad)
			refused(t, w, w.Code, up, "the token is malformed")
		})
	}
	t.Run("oversized", func(t *testing.T) {
		big := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"pad": strings.Repeat("x", jwtauth.DefaultMaxTokenBytes)}))
		w := serve(t, h, big)
		refused(t, w, w.Code, up, "the token is too large")
		assert.Equal(t, int64(0), f.jwks.hits.Load(), "refused before decoding")
	})
}

func TestUnknownKidRefreshesTheKeySet(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, _ := f.route(t, jwtauth.RouteConfig{})
	require.Equal(t, http.StatusNoContent, serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))).Code)
	// The issuer rotates to k2: the first token naming it, once
	// MinRefreshInterval has passed since the last fetch, causes one fetch.
	f.jwks.setKeys(rsaJWK("k1", rsaKey, "RS256"), rsaJWK("k2", rsaKey2, "RS256"))
	f.clock.Advance(defaultInterval)
	w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil)))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	assert.Equal(t, int64(2), f.jwks.hits.Load())
	assert.Equal(t, []string{"jwtauth.keys_fetched", "jwtauth.keys_fetched"}, f.obs.kinds())
}

func TestUnknownKidFloodIsBounded(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	require.Equal(t, http.StatusNoContent, serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))).Code)
	require.Equal(t, int64(1), f.jwks.hits.Load())
	up.hits.Store(0)

	flood := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tok := sign(t, jwt.SigningMethodRS256, rsaKey, "unknown-"+string(rune('a'+i%26))+strings.Repeat("x", i), claims(nil))
				w := serve(t, h, tok)
				assert.Equal(t, http.StatusUnauthorized, w.Code)
			})
		}
		wg.Wait()
	}
	// The first fetch on account of unknown kids is within the interval
	// that began with the first-use fetch: the budget is one per interval.
	flood(200)
	assert.Equal(t, int64(1), f.jwks.hits.Load(), "no fetch within MinRefreshInterval of the last on-demand fetch")
	f.clock.Advance(defaultInterval - time.Nanosecond)
	flood(50)
	assert.Equal(t, int64(1), f.jwks.hits.Load())
	f.clock.Advance(time.Nanosecond)
	flood(200)
	assert.Equal(t, int64(2), f.jwks.hits.Load(), "one fetch per interval however many unknown kids")
	f.clock.Advance(defaultInterval)
	flood(200)
	assert.Equal(t, int64(3), f.jwks.hits.Load())
	assert.Equal(t, int64(0), up.hits.Load())
	// The known key still works throughout.
	assert.Equal(t, http.StatusNoContent, serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))).Code)
}

func TestJWKSDownKeepsCachedKeys(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, _ := f.route(t, jwtauth.RouteConfig{})
	good := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	require.Equal(t, http.StatusNoContent, serve(t, h, good).Code)
	f.jwks.status.Store(http.StatusInternalServerError)
	f.clock.Advance(defaultInterval)
	w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil)))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Contains(t, f.obs.kinds(), "jwtauth.keys_fetch_failed")
	assert.Equal(t, http.StatusNoContent, serve(t, h, good).Code, "the cached key keeps working")
	f.jwks.Close() // gone altogether
	f.clock.Advance(defaultInterval)
	assert.Equal(t, http.StatusUnauthorized, serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil))).Code)
	assert.Equal(t, http.StatusNoContent, serve(t, h, good).Code)
}

func TestJWKSSlowBoundsTheWait(t *testing.T) {
	keys(t)
	const timeout = 300 * time.Millisecond
	f := newFixture(t, []string{"RS256"}, func(c *jwtauth.Config) { c.FetchTimeout = timeout }, rsaJWK("k1", rsaKey, "RS256"))
	h, _ := f.route(t, jwtauth.RouteConfig{})
	good := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	require.Equal(t, http.StatusNoContent, serve(t, h, good).Code)
	f.jwks.setStall(true)
	f.clock.Advance(defaultInterval)

	done := make(chan int)
	start := time.Now()
	go func() { done <- serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil))).Code }()
	// While that fetch hangs, a token with a cached key is served at once.
	for f.jwks.hits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	assert.Equal(t, http.StatusNoContent, serve(t, h, good).Code)
	assert.Less(t, time.Since(start), timeout, "a cached key does not wait for the fetch")
	assert.Equal(t, http.StatusUnauthorized, <-done)
	assert.Less(t, time.Since(start), timeout+2*time.Second, "the unknown kid waited no longer than FetchTimeout")
	assert.Contains(t, f.obs.kinds(), "jwtauth.keys_fetch_failed")
}

func TestForwardedClaimHeadersCannotBeForged(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{ForwardClaims: []jwtauth.ForwardedClaim{
		{Claim: "sub", Header: "X-User-Id"},
		{Claim: "tenant", Header: "x-tenant"},
		{Claim: "roles", Header: "X-Roles"},
	}})
	// The client sends its own copies, in several spellings and twice.
	forged := []string{"X-User-Id", "admin", "x-user-id", "root", "X-Tenant", "acme", "X-Roles", "admin"}

	w := serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"tenant": "t-1", "roles": []string{"a", "b"}})), forged...)
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, []string{"user-42"}, up.header.Values("X-User-Id"))
	assert.Equal(t, []string{"t-1"}, up.header.Values("X-Tenant"))
	assert.Equal(t, []string{"a, b"}, up.header.Values("X-Roles"))

	// A token without the claims: the client's copies are gone all the same.
	w = serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil)), forged...)
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Empty(t, up.header.Values("X-Tenant"))
	assert.Empty(t, up.header.Values("X-Roles"))

	// A claim holding a line break is not forwarded.
	w = serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"tenant": "t\r\nX-Admin: 1"})), forged...)
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Empty(t, up.header.Values("X-Tenant"))

	// Without a valid token nothing reaches the upstream.
	before := up.hits.Load()
	assert.Equal(t, http.StatusUnauthorized, serve(t, h, "", forged...).Code)
	assert.Equal(t, http.StatusUnauthorized, serve(t, h, "garbage", forged...).Code)
	assert.Equal(t, before, up.hits.Load())
}

func TestVerifyErrorsMatchErrInvalidToken(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	_, err := f.v.Verify(context.Background(), "x.y.z")
	var ie *jwtauth.InvalidTokenError
	require.True(t, errors.As(err, &ie))
	assert.ErrorIs(t, err, jwtauth.ErrInvalidToken)
	assert.Equal(t, "the token is malformed", ie.Reason)
}

func TestHeaderKeyPointersAndCritAreNotFollowed(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	// A token signed by the attacker's key, naming the attacker's key set
	// in "jku" and embedding its key in "jwk": neither is used.
	attacker := newJWKS(t, rsaJWK("evil", rsaKey2, "RS256"))
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
	tok.Header["kid"] = "k1"
	tok.Header["jku"] = attacker.URL
	tok.Header["jwk"] = rsaJWK("k1", rsaKey2, "RS256")
	raw, err := tok.SignedString(rsaKey2)
	require.NoError(t, err)
	w := serve(t, h, raw)
	refused(t, w, w.Code, up, "the token's signature is invalid")
	assert.Equal(t, int64(0), attacker.hits.Load())

	tok = jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
	tok.Header["kid"] = "k1"
	tok.Header["crit"] = []string{"exp"}
	raw, err = tok.SignedString(rsaKey)
	require.NoError(t, err)
	w = serve(t, h, raw)
	refused(t, w, w.Code, up, "the token requires unsupported extensions")
}

func TestJWKSDownFromTheStartIsNotHammered(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	f.jwks.status.Store(http.StatusServiceUnavailable)
	good := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { assert.Equal(t, http.StatusUnauthorized, serve(t, h, good).Code) })
	}
	wg.Wait()
	assert.Equal(t, int64(1), f.jwks.hits.Load(), "one fetch for 100 tokens while no key set is held")
	assert.Equal(t, int64(0), up.hits.Load())
	// Back up: the next fetch is allowed once the interval has passed.
	f.jwks.status.Store(0)
	assert.Equal(t, http.StatusUnauthorized, serve(t, h, good).Code)
	f.clock.Advance(defaultInterval)
	assert.Equal(t, http.StatusNoContent, serve(t, h, good).Code)
	assert.Equal(t, int64(2), f.jwks.hits.Load())
}

func TestClientHangingUpDoesNotCancelTheIntervalsFetch(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	f.jwks.setStall(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(ctx, sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil)))
		done <- err
	}()
	for f.jwks.hits.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel() // the client is gone; the fetch goes on
	f.jwks.setStall(false)
	require.NoError(t, <-done, "the fetch completed and the token verified")
	_, err := f.v.Verify(context.Background(), sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil)))
	require.NoError(t, err)
	assert.Equal(t, int64(1), f.jwks.hits.Load())
}
