package jwtauth_test

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

func cacheSize(n int) func(*jwtauth.Config) {
	return func(c *jwtauth.Config) { c.CacheSize = n }
}

func TestCacheHitSkipsDecodingAndSignatureCheck(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, cacheSize(0), rsaJWK("k1", rsaKey, "RS256"))
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"scope": "orders:read"}))
	p1, err := f.v.Verify(t.Context(), tok)
	require.NoError(t, err)
	assert.Equal(t, int64(1), jwtauth.Verifications(f.v))
	assert.Equal(t, 1, jwtauth.CacheLen(f.v))
	for range 5 {
		p, err := f.v.Verify(t.Context(), tok)
		require.NoError(t, err)
		assert.Same(t, p1, p, "a hit returns the Principal of the verification")
	}
	assert.Equal(t, int64(1), jwtauth.Verifications(f.v), "hits are not verified again")

	// Through a Route: the scope and the forwarded claim come from the
	// cached Principal.
	h, up := f.route(t, jwtauth.RouteConfig{Scopes: []string{"orders:read"}, ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}}})
	w := serve(t, h, tok, "X-User-Id", "admin")
	require.Equal(t, http.StatusNoContent, w.Code)
	assert.Same(t, p1, up.principal)
	assert.Equal(t, []string{"user-42"}, up.header.Values("X-User-Id"))
	assert.Equal(t, int64(1), jwtauth.Verifications(f.v))
	// A route requiring a scope the token lacks refuses it, cached or not.
	h2, up2 := f.route(t, jwtauth.RouteConfig{Scopes: []string{"orders:write"}})
	assert.Equal(t, http.StatusForbidden, serve(t, h2, tok).Code)
	assert.Equal(t, int64(0), up2.hits.Load())
}

func TestNoCacheVerifiesEveryTime(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, cacheSize(jwtauth.NoCache), rsaJWK("k1", rsaKey, "RS256"))
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	for i := range 3 {
		_, err := f.v.Verify(t.Context(), tok)
		require.NoError(t, err)
		assert.Equal(t, int64(i+1), jwtauth.Verifications(f.v))
	}
	assert.Equal(t, 0, jwtauth.CacheLen(f.v))
}

func TestCachedTokenIsRefusedOnceExpired(t *testing.T) {
	keys(t)
	exp := epoch.Add(time.Hour)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{})
	tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"exp": exp.Unix()}))
	require.Equal(t, http.StatusNoContent, serve(t, h, tok).Code)
	f.clock.Set(exp.Add(defaultLeeway - time.Nanosecond))
	require.Equal(t, http.StatusNoContent, serve(t, h, tok).Code, "the last instant within the leeway")
	assert.Equal(t, int64(1), jwtauth.Verifications(f.v))
	up.hits.Store(0)

	f.clock.Set(exp.Add(defaultLeeway))
	w := serve(t, h, tok)
	refused(t, w, w.Code, up, "the token has expired")
	assert.Equal(t, int64(1), jwtauth.Verifications(f.v), "refused from the cache")
	assert.Equal(t, 0, jwtauth.CacheLen(f.v), "and forgotten")
	_, err := f.v.Verify(t.Context(), tok)
	require.ErrorIs(t, err, jwt.ErrTokenExpired)
	assert.Equal(t, int64(2), jwtauth.Verifications(f.v), "verified in full, and refused")
	assert.Equal(t, 0, jwtauth.CacheLen(f.v))

	t.Run("NoLeeway", func(t *testing.T) {
		f := newFixture(t, []string{"RS256"}, func(c *jwtauth.Config) { c.Leeway = jwtauth.NoLeeway }, rsaJWK("k1", rsaKey, "RS256"))
		tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"exp": exp.Unix()}))
		f.clock.Set(exp.Add(-time.Nanosecond))
		_, err := f.v.Verify(t.Context(), tok)
		require.NoError(t, err)
		f.clock.Set(exp)
		_, err = f.v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, jwt.ErrTokenExpired)
		assert.Equal(t, int64(1), jwtauth.Verifications(f.v))
	})
	t.Run("not valid yet after the clock went back", func(t *testing.T) {
		nbf := epoch.Add(time.Hour)
		f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
		tok := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"nbf": nbf.Unix(), "exp": nbf.Add(time.Hour).Unix()}))
		f.clock.Set(nbf)
		_, err := f.v.Verify(t.Context(), tok)
		require.NoError(t, err)
		f.clock.Set(nbf.Add(-defaultLeeway - time.Nanosecond))
		_, err = f.v.Verify(t.Context(), tok)
		require.ErrorIs(t, err, jwt.ErrTokenNotValidYet)
		f.clock.Set(nbf.Add(-defaultLeeway))
		_, err = f.v.Verify(t.Context(), tok)
		require.NoError(t, err)
		assert.Equal(t, int64(1), jwtauth.Verifications(f.v))
	})
}

func TestKeySetChangeInvalidatesCachedTokens(t *testing.T) {
	keys(t)
	t.Run("unknown kid fetch", func(t *testing.T) {
		f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
		h, up := f.route(t, jwtauth.RouteConfig{})
		old := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
		require.Equal(t, http.StatusNoContent, serve(t, h, old).Code)
		require.Equal(t, http.StatusNoContent, serve(t, h, old).Code)
		require.Equal(t, int64(1), jwtauth.Verifications(f.v))
		// The issuer drops k1 (compromised, say) for k2; a k2 token makes
		// the verifier fetch the new set.
		f.jwks.setKeys(rsaJWK("k2", rsaKey2, "RS256"))
		f.clock.Advance(defaultInterval)
		require.Equal(t, http.StatusNoContent, serve(t, h, sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil))).Code)
		require.Equal(t, int64(2), f.jwks.hits.Load())
		up.hits.Store(0)
		w := serve(t, h, old)
		refused(t, w, w.Code, up, "the token's signing key is unknown")
		assert.Equal(t, int64(3), jwtauth.Verifications(f.v), "the cached token was verified again")
	})
	t.Run("periodic refresh", func(t *testing.T) {
		f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"), rsaJWK("k2", rsaKey2, "RS256"))
		day := jwt.MapClaims{"exp": epoch.Add(24 * time.Hour).Unix()}
		tok1 := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(day))
		tok2 := sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(day))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- f.v.Run(ctx) }()
		f.clock.BlockUntil(1)
		for _, tok := range []string{tok1, tok2, tok1, tok2} {
			_, err := f.v.Verify(ctx, tok)
			require.NoError(t, err)
		}
		require.Equal(t, int64(2), jwtauth.Verifications(f.v))
		// The same document again: the cache stands.
		f.clock.Advance(jwtauth.DefaultRefreshInterval)
		f.clock.BlockUntil(1)
		require.Equal(t, int64(2), f.jwks.hits.Load())
		_, err := f.v.Verify(ctx, tok1)
		require.NoError(t, err)
		assert.Equal(t, int64(2), jwtauth.Verifications(f.v), "an unchanged key set keeps the cache")
		// k1 removed: its token fails, k2's is verified again and passes.
		f.jwks.setKeys(rsaJWK("k2", rsaKey2, "RS256"))
		f.clock.Advance(jwtauth.DefaultRefreshInterval)
		f.clock.BlockUntil(1)
		require.Equal(t, int64(3), f.jwks.hits.Load())
		_, err = f.v.Verify(ctx, tok1)
		require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
		_, err = f.v.Verify(ctx, tok2)
		require.NoError(t, err)
		assert.Equal(t, int64(4), jwtauth.Verifications(f.v))
		_, err = f.v.Verify(ctx, tok2)
		require.NoError(t, err)
		assert.Equal(t, int64(4), jwtauth.Verifications(f.v), "cached again under the new key set")
		cancel()
		<-done
	})
	t.Run("per issuer", func(t *testing.T) {
		// A change of one issuer's key set leaves another's tokens cached.
		f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
		other := newJWKS(t, ecJWK("e1", ecKey))
		v, err := jwtauth.New(jwtauth.Config{Clock: f.clock, Issuers: []jwtauth.Issuer{
			{Issuer: testIssuer, JWKSURL: f.jwks.URL, Algorithms: []string{"RS256"}, Audiences: []string{testAudience}},
			{Issuer: "https://other.test", JWKSURL: other.URL, Algorithms: []string{"ES256"}, Audiences: []string{testAudience}},
		}})
		require.NoError(t, err)
		tokA := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
		tokB := sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(jwt.MapClaims{"iss": "https://other.test"}))
		for _, tok := range []string{tokA, tokB} {
			_, err := v.Verify(t.Context(), tok)
			require.NoError(t, err)
		}
		f.jwks.setKeys(rsaJWK("k2", rsaKey2, "RS256"))
		f.clock.Advance(defaultInterval)
		_, err = v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey2, "k2", claims(nil)))
		require.NoError(t, err)
		require.Equal(t, int64(3), jwtauth.Verifications(v))
		_, err = v.Verify(t.Context(), tokB)
		require.NoError(t, err)
		assert.Equal(t, int64(3), jwtauth.Verifications(v), "the other issuer's token is still cached")
		_, err = v.Verify(t.Context(), tokA)
		require.ErrorIs(t, err, jwtauth.ErrInvalidToken)
	})
}

func TestCacheIsBoundedUnderAFloodOfValidTokens(t *testing.T) {
	keys(t)
	const size, flood = 64, 1000
	f := newFixture(t, []string{"ES256"}, cacheSize(size), ecJWK("e1", ecKey))
	hot := sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(jwt.MapClaims{"sub": "hot"}))
	_, err := f.v.Verify(t.Context(), hot)
	require.NoError(t, err)
	for i := range flood {
		_, err := f.v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(jwt.MapClaims{"sub": fmt.Sprint("user-", i)})))
		require.NoError(t, err)
		require.LessOrEqual(t, jwtauth.CacheLen(f.v), size)
		// The token in use between the others stays cached.
		_, err = f.v.Verify(t.Context(), hot)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(1+flood), jwtauth.Verifications(f.v), "the hot token was never verified again")
	assert.Greater(t, jwtauth.CacheLen(f.v), size/2, "the cache is used")

	// Sizes below the shard count still bound the cache.
	for _, n := range []int{1, 3, 17} {
		f := newFixture(t, []string{"ES256"}, cacheSize(n), ecJWK("e1", ecKey))
		for i := range 40 {
			_, err := f.v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(jwt.MapClaims{"sub": fmt.Sprint("user-", i)})))
			require.NoError(t, err)
		}
		assert.LessOrEqual(t, jwtauth.CacheLen(f.v), n)
		assert.Positive(t, jwtauth.CacheLen(f.v))
	}
}

func TestFailedVerificationsAreNotCached(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	valid := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	parts := strings.Split(valid, ".")
	bad := map[string]string{
		// Signed by the issuer's key, refused after the signature check.
		"wrong audience":  sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"aud": "billing-api"})),
		"expired":         sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"exp": epoch.Add(-time.Hour).Unix()})),
		"bad signature":   parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA",
		"other key":       sign(t, jwt.SigningMethodRS256, rsaKey2, "k1", claims(nil)),
		"unknown kid":     sign(t, jwt.SigningMethodRS256, rsaKey, "nope", claims(nil)),
		"untrusted iss":   sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"iss": "https://evil.test"})),
		"alg none":        sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims(nil)),
		"malformed":       "a.b.c",
		"no expiry":       sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"exp": nil})),
		"not yet valid":   sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(jwt.MapClaims{"nbf": epoch.Add(time.Hour).Unix(), "exp": epoch.Add(2 * time.Hour).Unix()})),
		"crit extensions": critToken(t),
	}
	n := int64(0)
	for name, tok := range bad {
		for range 3 {
			_, err := f.v.Verify(t.Context(), tok)
			require.ErrorIs(t, err, jwtauth.ErrInvalidToken, name)
			n++
			assert.Equal(t, n, jwtauth.Verifications(f.v), "%s: verified in full every time", name)
		}
	}
	assert.Equal(t, 0, jwtauth.CacheLen(f.v))

	// An unknown-kid flood of tokens the issuer's key did sign adds nothing.
	for i := range 200 {
		_, err := f.v.Verify(t.Context(), sign(t, jwt.SigningMethodRS256, rsaKey, fmt.Sprint("kid-", i), claims(nil)))
		require.Error(t, err)
	}
	assert.Equal(t, 0, jwtauth.CacheLen(f.v))
	_, err := f.v.Verify(t.Context(), valid)
	require.NoError(t, err)
	assert.Equal(t, 1, jwtauth.CacheLen(f.v))
}

func critToken(t *testing.T) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(nil))
	tok.Header["kid"] = "k1"
	tok.Header["crit"] = []string{"exp"}
	raw, err := tok.SignedString(rsaKey)
	require.NoError(t, err)
	return raw
}

// TestAttacksOnACachedToken changes a cached valid token in every way an
// attacker can: none of the results is taken for the cached token.
func TestAttacksOnACachedToken(t *testing.T) {
	keys(t)
	f := newFixture(t, []string{"RS256"}, nil, rsaJWK("k1", rsaKey, "RS256"))
	h, up := f.route(t, jwtauth.RouteConfig{ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}}})
	valid := sign(t, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	require.Equal(t, http.StatusNoContent, serve(t, h, valid).Code)
	require.Equal(t, 1, jwtauth.CacheLen(f.v))
	parts := strings.Split(valid, ".")
	admin := sign(t, jwt.SigningMethodRS256, rsaKey2, "k1", claims(jwt.MapClaims{"sub": "admin"}))
	noneHeader := b64([]byte(`{"alg":"none","typ":"JWT","kid":"k1"}`))
	hs := b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"k1"}`))
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, c := range map[string]struct{ tok, reason string }{
		"signature byte flipped":    {parts[0] + "." + parts[1] + "." + flip(parts[2], 5), "the token's signature is invalid"},
		"payload of another claim":  {parts[0] + "." + strings.Split(admin, ".")[1] + "." + parts[2], "the token's signature is invalid"},
		"signature dropped":         {parts[0] + "." + parts[1] + ".", "the token's signature is invalid"},
		"header alg none":           {noneHeader + "." + parts[1] + "." + parts[2], "the token's signing algorithm is not allowed"},
		"header alg HS256":          {hs + "." + parts[1] + "." + parts[2], "the token's signing algorithm is not allowed"},
		"a character appended":      {valid + "A", "the token's signature is invalid"},
		"a character cut":           {valid[:len(valid)-1], "the token is malformed"},
		"payload byte flipped":      {parts[0] + "." + flip(parts[1], 12) + "." + parts[2], "the token is malformed"},
		"signed by an attacker key": {admin, "the token's signature is invalid"},
	} {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, valid, c.tok)
			before := up.hits.Load()
			w := serve(t, h, c.tok, "X-User-Id", "admin")
			assert.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Contains(t, w.Header().Get("WWW-Authenticate"), c.reason)
			assert.Equal(t, before, up.hits.Load(), "the attack did not reach the upstream")
			assert.Equal(t, 1, jwtauth.CacheLen(f.v))
		})
	}
	require.Equal(t, http.StatusNoContent, serve(t, h, valid).Code)
	assert.Equal(t, int64(1+9), jwtauth.Verifications(f.v), "each attack verified in full, the valid token once")
}

func TestCacheUnderConcurrency(t *testing.T) {
	keys(t)
	// A cache smaller than the working set, so that hits, inserts,
	// evictions, expiries and key set changes race.
	f := newFixture(t, []string{"ES256"}, cacheSize(16), ecJWK("e1", ecKey))
	const ntok = 40
	shortExp := epoch.Add(30 * time.Second)
	expired := shortExp.Add(defaultLeeway) // tokens k%5 == 0 are refused from here
	toks := make([]string, ntok)
	for i := range toks {
		exp := epoch.Add(time.Hour)
		if i%5 == 0 {
			exp = shortExp
		}
		toks[i] = sign(t, jwt.SigningMethodES256, ecKey, "e1", claims(jwt.MapClaims{"sub": fmt.Sprint("user-", i), "exp": exp.Unix()}))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 400 {
				k := (g*7 + i) % ntok
				before := f.clock.Now()
				p, err := f.v.Verify(t.Context(), toks[k])
				after := f.clock.Now()
				switch {
				case k%5 != 0 || after.Before(expired):
					if assert.NoError(t, err) {
						assert.Equal(t, fmt.Sprint("user-", k), p.Subject)
					}
				case !before.Before(expired):
					assert.ErrorIs(t, err, jwt.ErrTokenExpired)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 3 {
			time.Sleep(time.Millisecond)
			f.clock.Advance(defaultInterval) // lets the unknown kid below fetch
			_, err := f.v.Verify(t.Context(), sign(t, jwt.SigningMethodES256, ecKey, "e2", claims(nil)))
			assert.Error(t, err)
			// The same key in another document: a new key set generation.
			f.jwks.setKeys(ecJWK("e1", ecKey), rsaJWK(fmt.Sprint("r", i), rsaKey, "RS256"))
		}
	})
	wg.Wait()
	assert.LessOrEqual(t, jwtauth.CacheLen(f.v), 16)
}

// TestSecuritySuiteWithoutTheCache runs every test of security_test.go
// again with Config.CacheSize NoCache (the suite itself runs with the
// default cache on), in a child process of this test binary.
func TestSecuritySuiteWithoutTheCache(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "security_test.go", nil, 0)
	require.NoError(t, err)
	var names []string
	for _, d := range file.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
			names = append(names, fn.Name.Name)
		}
	}
	require.Greater(t, len(names), 10)
	cmd := exec.Command(os.Args[0], "-test.run", "^("+strings.Join(names, "|")+")$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), noCacheEnv+"=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, n := range names {
		assert.Contains(t, string(out), "--- PASS: "+n+" ", "the child ran %s", n)
	}
	assert.GreaterOrEqual(t, strings.Count(string(out), noCacheMarker), len(names), "the child's fixtures had the cache off")
}
