package clientlimit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/gateway/clientlimit"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// issuer serves one Ed25519 key set and signs tokens for sub.
type issuer struct {
	name string
	priv ed25519.PrivateKey
	jwks *httptest.Server
}

func newIssuer(t *testing.T, name string) *issuer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	is := &issuer{name: name, priv: priv}
	is.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "OKP", "crv": "Ed25519", "kid": "k", "alg": "EdDSA", "x": base64.RawURLEncoding.EncodeToString(pub)}}})
	}))
	t.Cleanup(is.jwks.Close)
	return is
}

func (is *issuer) token(t *testing.T, sub string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": is.name, "aud": "api", "sub": sub, "exp": t0.Add(time.Hour).Unix()})
	tok.Header["kid"] = "k"
	s, err := tok.SignedString(is.priv)
	require.NoError(t, err)
	return s
}

// TestBehindJWTAuthBySubject runs the two middlewares as a gateway route
// does: the subject of a verified token is the client, whatever address it
// comes from, and equal subjects of two issuers are two clients.
func TestBehindJWTAuthBySubject(t *testing.T) {
	c := clocktest.New(t0)
	a, b := newIssuer(t, "https://a.test"), newIssuer(t, "https://b.test")
	v, err := jwtauth.New(jwtauth.Config{Clock: c, Issuers: []jwtauth.Issuer{
		{Issuer: a.name, JWKSURL: a.jwks.URL, Algorithms: []string{"EdDSA"}, Audiences: []string{"api"}},
		{Issuer: b.name, JWKSURL: b.jwks.URL, Algorithms: []string{"EdDSA"}, Audiences: []string{"api"}},
	}})
	require.NoError(t, err)
	auth, err := jwtauth.NewRoute(v, jwtauth.RouteConfig{})
	require.NoError(t, err)
	lim, hits := limiter(t, clientlimit.Config{
		Windows: []clientlimit.Window{{Limiter: keyed(t, c, ratelimit.Config{Limit: 2, Period: time.Minute})}},
		KeyBy:   []clientlimit.KeySource{clientlimit.BySubject, clientlimit.ByClientIP},
	})
	h := auth.Handler(lim)
	send := func(token, peer string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = peer
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	alice := a.token(t, "alice")
	assert.Equal(t, []int{204, 204, 429}, []int{send(alice, "192.0.2.1:1"), send(alice, "192.0.2.2:1"), send(alice, "192.0.2.3:1")})
	assert.Equal(t, 204, send(b.token(t, "alice"), "192.0.2.1:1"), "issuer b's alice is another client")
	assert.Equal(t, 401, send("", "192.0.2.1:1"), "no token never reaches the limiter's upstream")
	assert.Equal(t, int64(3), hits.Load())
}
