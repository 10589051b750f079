package jwtauth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

func Example() {
	// An issuer publishing one Ed25519 key.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "OKP", "crv": "Ed25519", "kid": "2026-01", "alg": "EdDSA", "use": "sig",
			"x": base64.RawURLEncoding.EncodeToString(pub),
		}}})
	}))
	defer jwks.Close()

	v, err := jwtauth.New(jwtauth.Config{Issuers: []jwtauth.Issuer{{
		Issuer:     "https://id.example.com",
		JWKSURL:    jwks.URL,
		Algorithms: []string{"EdDSA"},
		Audiences:  []string{"orders-api"},
	}}})
	if err != nil {
		panic(err)
	}
	route, err := jwtauth.NewRoute(v, jwtauth.RouteConfig{
		Realm:         "orders",
		Scopes:        []string{"orders:read"},
		ForwardClaims: []jwtauth.ForwardedClaim{{Claim: "sub", Header: "X-User-Id"}},
	})
	if err != nil {
		panic(err)
	}
	handler := route.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("upstream sees X-User-Id:", r.Header.Get("X-User-Id"), "subject:", jwtauth.Subject(r.Context()))
	}))

	token := func(scope string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
			"iss": "https://id.example.com", "aud": "orders-api", "sub": "alice",
			"scope": scope, "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "2026-01"
		s, _ := tok.SignedString(priv)
		return s
	}
	for _, auth := range []string{"", "Bearer " + token("orders:write"), "Bearer " + token("orders:read")} {
		r := httptest.NewRequest(http.MethodGet, "/orders/1", nil)
		r.Header.Set("X-User-Id", "mallory") // forged by the client: always removed
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Output:
	// 401 Bearer realm="orders"
	// 403 Bearer realm="orders", error="insufficient_scope", error_description="the token lacks the scope 'orders:read'", scope="orders:read"
	// upstream sees X-User-Id: alice subject: alice
	// 200
}
