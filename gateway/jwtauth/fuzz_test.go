package jwtauth_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// FuzzVerify feeds arbitrary strings to the token parsing path: it must
// never panic, and a string it accepts must be a token the issuer's key
// signed (here, the subject of the seed token).
func FuzzVerify(f *testing.F) {
	keys(f)
	jwks := newJWKS(f, rsaJWK("k1", rsaKey, "RS256"), ecJWK("e1", ecKey))
	v, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{Issuer: testIssuer, JWKSURL: jwks.URL, Algorithms: []string{"RS256", "ES256"}, Audiences: []string{testAudience}}}, Clock: clocktest.New(epoch)})
	if err != nil {
		f.Fatal(err)
	}
	valid := sign(f, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	f.Add(valid)
	f.Add(sign(f, jwt.SigningMethodES256, ecKey, "e1", claims(nil)))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", claims(nil)))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte("secret"), "k1", claims(nil)))
	f.Add("e30.e30.")
	f.Add("....")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := v.Verify(context.Background(), raw)
		if err != nil {
			return
		}
		if p.Subject != "user-42" || p.Issuer != testIssuer {
			t.Fatalf("accepted a token with subject %q issuer %q: %q", p.Subject, p.Issuer, raw)
		}
	})
}

// FuzzRouteAuthorization sends arbitrary Authorization header values
// through a Route: it must never panic, and a request reaches the upstream
// only with the seed's valid token (whitespace and scheme case aside).
func FuzzRouteAuthorization(f *testing.F) {
	keys(f)
	jwks := newJWKS(f, rsaJWK("k1", rsaKey, "RS256"))
	v, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{Issuer: testIssuer, JWKSURL: jwks.URL, Algorithms: []string{"RS256"}, Audiences: []string{testAudience}}}, Clock: clocktest.New(epoch)})
	if err != nil {
		f.Fatal(err)
	}
	rt, err := jwtauth.NewRoute(v, jwtauth.RouteConfig{ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}}})
	if err != nil {
		f.Fatal(err)
	}
	valid := sign(f, jwt.SigningMethodRS256, rsaKey, "k1", claims(nil))
	up := &upstream{}
	h := rt.Handler(up)
	f.Add("Bearer " + valid)
	f.Add("bearer  " + valid + " ")
	f.Add("Basic " + valid)
	f.Add("Bearer")
	f.Add("Bearer " + valid + "." + valid)
	f.Fuzz(func(t *testing.T, auth string) {
		before := up.hits.Load()
		w := serve(t, h, "", "Authorization", auth, "X-User-Id", "forged")
		if up.hits.Load() == before {
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("refused with %d", w.Code)
			}
			return
		}
		if got := up.header.Get("X-User-Id"); got != "user-42" {
			t.Fatalf("upstream saw X-User-Id %q for %q", got, auth)
		}
	})
}
