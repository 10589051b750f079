package jwtauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// BenchmarkValidToken measures a request with a valid RS256 token (its key
// cached) through a Route to a handler that does nothing, with the
// verified-token cache (the token is checked once, then found) and
// without it (NoCache: checked on every request), beside the same check
// written directly with golang-jwt (a static key: the floor without a
// cache) and with keyfunc's own JWKS client as the Keyfunc.
func BenchmarkValidToken(b *testing.B) {
	keys(b)
	jwks := newJWKS(b, rsaJWK("k1", rsaKey, "RS256"))
	cl := claims(nil)
	cl["exp"] = 1 << 40 // valid on the system clock for the run
	cl["nbf"] = 0
	tok := sign(b, jwt.SigningMethodRS256, rsaKey, "k1", cl)
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			for pb.Next() {
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
	for name, size := range map[string]int{"jwtauth.Route cache": 0, "jwtauth.Route NoCache": jwtauth.NoCache} {
		b.Run(name, func(b *testing.B) {
			v, err := jwtauth.New(jwtauth.Config{CacheSize: size, Issuers: []jwtauth.Issuer{{Issuer: testIssuer, JWKSURL: jwks.URL, Algorithms: []string{"RS256"}, Audiences: []string{testAudience}}}})
			if err != nil {
				b.Fatal(err)
			}
			rt, err := jwtauth.NewRoute(v, jwtauth.RouteConfig{Scopes: nil, ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}}})
			if err != nil {
				b.Fatal(err)
			}
			run(b, rt.Handler(noop))
		})
	}
	b.Run("golang-jwt static key", func(b *testing.B) {
		p := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(testAudience), jwt.WithIssuer(testIssuer), jwt.WithExpirationRequired())
		pub := &rsaKey.PublicKey
		run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw := r.Header.Get("Authorization")[len("Bearer "):]
			if _, err := p.ParseWithClaims(raw, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
				w.WriteHeader(http.StatusUnauthorized)
			}
		}))
	})
	b.Run("golang-jwt keyfunc JWKS client", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		kf, err := keyfunc.NewDefaultCtx(ctx, []string{jwks.URL})
		if err != nil {
			b.Fatal(err)
		}
		p := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(testAudience), jwt.WithIssuer(testIssuer), jwt.WithExpirationRequired())
		run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			raw := r.Header.Get("Authorization")[len("Bearer "):]
			if _, err := p.ParseWithClaims(raw, jwt.MapClaims{}, kf.Keyfunc); err != nil {
				w.WriteHeader(http.StatusUnauthorized)
			}
		}))
	})
}
