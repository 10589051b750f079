package jwtauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
)

// Keys made once: RSA key generation is slow under the race detector.
var (
	keysOnce        sync.Once
	rsaKey, rsaKey2 *rsa.PrivateKey
	ecKey           *ecdsa.PrivateKey
	epoch           = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testIssuer      = "https://issuer.test"
	testAudience    = "orders-api"
	defaultLeeway   = 30 * time.Second
	defaultInterval = 30 * time.Second
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is one public key of a key set.
type jwk map[string]string

func rsaJWK(kid string, k *rsa.PrivateKey, alg string) jwk {
	j := jwk{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	if alg != "" {
		j["alg"] = alg
	}
	return j
}

func ecJWK(kid string, k *ecdsa.PrivateKey) jwk {
	pub, err := k.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return jwk{"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(pub[1:33]), "y": b64(pub[33:65])}
}

// jwksServer serves a key set that tests may change, count, slow down or
// break.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jwk
	hits    atomic.Int64
	status  atomic.Int64  // 0 means 200
	stall   chan struct{} // when set, requests wait on it (or on their context)
	stallMu sync.Mutex
}

func newJWKS(t testing.TB, keys ...jwk) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.stallMu.Lock()
		stall := s.stall
		s.stallMu.Unlock()
		if stall != nil {
			select {
			case <-stall:
			case <-r.Context().Done():
				return
			}
		}
		if st := s.status.Load(); st != 0 {
			w.WriteHeader(int(st))
			return
		}
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(func() {
		s.setStall(false)
		s.Close()
	})
	return s
}

func (s *jwksServer) setKeys(keys ...jwk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// setStall makes requests hang (true) until set back (false).
func (s *jwksServer) setStall(on bool) {
	s.stallMu.Lock()
	defer s.stallMu.Unlock()
	if on && s.stall == nil {
		s.stall = make(chan struct{})
	}
	if !on && s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
}

// sign makes a token with header fields kid (when not "") and claims.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims returns the claims of a valid token at epoch, with extra added.
func claims(extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": testIssuer,
		"aud": testAudience,
		"sub": "user-42",
		"exp": epoch.Add(time.Hour).Unix(),
		"nbf": epoch.Add(-time.Minute).Unix(),
		"iat": epoch.Add(-time.Minute).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// noCacheEnv, when set, makes newFixture turn the token cache off unless
// the test sets CacheSize itself (see TestSecuritySuiteWithoutTheCache).
const (
	noCacheEnv    = "JWTAUTH_TEST_NO_CACHE"
	noCacheMarker = "jwtauth test fixture: token cache off"
)

// fixture is a Verifier on a fake clock trusting one issuer whose keys the
// jwksServer serves.
type fixture struct {
	jwks  *jwksServer
	clock *clocktest.Fake
	v     *jwtauth.Verifier
	obs   *recorder
}

func newFixture(t *testing.T, algs []string, change func(*jwtauth.Config), keys ...jwk) *fixture {
	t.Helper()
	f := &fixture{jwks: newJWKS(t, keys...), clock: clocktest.New(epoch), obs: &recorder{}}
	cfg := jwtauth.Config{
		Issuers:  []jwtauth.Issuer{{Issuer: testIssuer, JWKSURL: f.jwks.URL, Algorithms: algs, Audiences: []string{testAudience}}},
		Clock:    f.clock,
		Observer: f.obs,
		Name:     "test",
	}
	if os.Getenv(noCacheEnv) != "" {
		cfg.CacheSize = jwtauth.NoCache
		t.Log(noCacheMarker)
	}
	if change != nil {
		change(&cfg)
	}
	v, err := jwtauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

// upstream records whether a request reached it and what it saw.
type upstream struct {
	hits      atomic.Int64
	mu        sync.Mutex
	header    http.Header
	principal *jwtauth.Principal
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits.Add(1)
	u.mu.Lock()
	u.header = r.Header.Clone()
	u.principal, _ = jwtauth.FromContext(r.Context())
	u.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// serve sends one request with token (none when "") and extra headers
// through route to up.
func serve(t testing.TB, h http.Handler, token string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// recorder is a bulwark.Observer that keeps the events.
type recorder struct {
	mu     sync.Mutex
	events []bulwark.Event
}

func (r *recorder) Observe(_ context.Context, e bulwark.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k []string
	for _, e := range r.events {
		k = append(k, e.Kind())
	}
	return k
}
