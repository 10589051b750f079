package gateway

import (
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// rs256PEM is the issuer's RSA 2048 private key, made for this benchmark
// only (it signs nothing else). It is fixed, not generated per run, so
// that every run signs the same tokens: the instruction counts of
// instructions.sh then differ only by the requests.
//
//go:embed testdata/rs256.pem
var rs256PEM []byte

const (
	issuer   = "https://id.bench.test"
	audience = "orders-api"
)

// jwtRoute is route with the token check and the per-subject limits
// added: auth requires the scope orders:read and forwards the subject as
// X-User-Id; limits key on the verified subject, with two windows (per
// second and per day) far above what a benchmark sends, so that no request
// is refused and the rows measure the cost of the checks.
const jwtRoute = `
jwt:
  issuers:
    - iss: %q
      jwks_url: %q
      algorithms: [RS256]
      audiences: [%q]
upstreams:
  orders: {endpoints: [%q]}
routes:
  - match: /orders/
    upstream: orders
    policies:
      retry: {max_attempts: 3}
      breaker: {}
      bulkhead: {max_concurrent: 256}
    auth:
      scopes: [orders:read]
      forward_claims: {sub: X-User-Id}
    limits:
      key_by: [subject]
      windows: [{name: second, limit: 1000000000, period: 1s}, {name: day, limit: 1000000000, period: 24h}]
`

// startBulwarkJWT serves a gateway.Gateway with the route of startBulwark
// plus RS256 token verification against a key set served on loopback
// (fetched once, then cached) and per-subject rate limits. Each client
// sends its own token, minted once before the run, with its own subject
// (client-0, client-1...).
func startBulwarkJWT(b *testing.B, upstreamURL string) target {
	blk, _ := pem.Decode(rs256PEM)
	if blk == nil {
		b.Fatal("testdata/rs256.pem holds no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	key := k.(*rsa.PrivateKey)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	}))
	b.Cleanup(jwks.Close)
	const maxClients = 64
	// authorization holds each client's Authorization header value, made
	// once: a client keeps its header rather than building it per request,
	// and the row measures the gateway, not a string concatenation.
	authorization := make([]string, maxClients)
	for i := range authorization {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss":   issuer,
			"aud":   audience,
			"sub":   fmt.Sprintf("client-%d", i),
			"scope": "orders:read orders:write",
			"exp":   int64(1) << 40, // fixed, so the tokens are the same every run
		})
		tok.Header["kid"] = "k1"
		signed, err := tok.SignedString(key)
		if err != nil {
			b.Fatal(err)
		}
		authorization[i] = "Bearer " + signed
	}
	up, _ := url.Parse(upstreamURL)
	doc := fmt.Sprintf(jwtRoute, issuer, jwks.URL, audience, up.Host)
	t := startGateway(b, doc, func(i int) string { return authorization[i] })
	// The row measures the checks only if they run: without a token the
	// route refuses, and with one the answer carries the limits' policy.
	if code, _ := get(b, t.url, ""); code != http.StatusUnauthorized {
		b.Fatalf("without a token: status %d, want 401", code)
	}
	if code, h := get(b, t.url, t.authorization(1)); code != http.StatusOK || h.Get("RateLimit-Policy") == "" {
		b.Fatalf("with a token: status %d, RateLimit-Policy %q; want 200 and a policy", code, h.Get("RateLimit-Policy"))
	}
	return t
}

// get sends one GET to u, with authorization when not empty, and returns
// the status and the response's header.
func get(b *testing.B, u, authorization string) (int, http.Header) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}
