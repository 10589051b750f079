package clientlimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/gateway/clientlimit"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/ratelimit"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func keyed(t testing.TB, c *clocktest.Fake, cfg ratelimit.Config) *ratelimit.Keyed {
	t.Helper()
	cfg.Clock = c
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: cfg})
	require.NoError(t, err)
	return k
}

func limiter(t testing.TB, cfg clientlimit.Config) (http.Handler, *atomic.Int64) {
	t.Helper()
	l, err := clientlimit.New(cfg)
	require.NoError(t, err)
	var hits atomic.Int64
	return l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})), &hits
}

type req struct {
	peer    string
	headers []string
	subject string
}

func do(h http.Handler, q req) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.RemoteAddr = q.peer
	if r.RemoteAddr == "" {
		r.RemoteAddr = "198.51.100.7:40000"
	}
	for i := 0; i+1 < len(q.headers); i += 2 {
		r.Header.Add(q.headers[i], q.headers[i+1])
	}
	if q.subject != "" {
		r = r.WithContext(jwtauth.NewContext(r.Context(), &jwtauth.Principal{Issuer: "https://id.test", Subject: q.subject}))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// codes sends each request and returns the status codes.
func codes(h http.Handler, qs ...req) []int {
	var out []int
	for _, q := range qs {
		out = append(out, do(h, q).Code)
	}
	return out
}

func TestWindowsTogetherWithExactHeaders(t *testing.T) {
	c := clocktest.New(t0)
	perSecond := keyed(t, c, ratelimit.Config{Limit: 2, Period: time.Second})
	perDay := keyed(t, c, ratelimit.Config{Limit: 5, Period: 24 * time.Hour})
	obs := &recorder{}
	h, hits := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Limiter: perSecond}, {Name: "daily", Limiter: perDay}}, Name: "orders", Observer: obs})
	const policy = `"2-per-1s";q=2;w=1, "daily";q=5;w=86400`

	w := do(h, req{})
	assert.Equal(t, http.StatusNoContent, w.Code)
	assert.Equal(t, policy, w.Header().Get("RateLimit-Policy"))
	assert.Empty(t, w.Header().Get("RateLimit"))
	assert.Equal(t, http.StatusNoContent, do(h, req{}).Code)

	// The third in the same second: the per-second window refuses, 500 ms
	// to its next token.
	w = do(h, req{})
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Equal(t, `"2-per-1s";r=0;t=1`, w.Header().Get("RateLimit"))
	assert.Equal(t, policy, w.Header().Get("RateLimit-Policy"))
	assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	assert.Equal(t, clientlimit.Limited{Name: "orders", Key: "ip:198.51.100.7", Window: "2-per-1s", Wait: 500 * time.Millisecond}, obs.events[0])

	c.Advance(time.Second)
	assert.Equal(t, []int{204, 204}, codes(h, req{}, req{}))
	c.Advance(time.Second)
	assert.Equal(t, http.StatusNoContent, do(h, req{}).Code)
	// The sixth of the day: the daily window refuses. Its bucket refills one
	// permit each 24h/5 = 4h48m, and the five taken at t0, t0, t0+1s,
	// t0+1s, t0+2s leave 4h48m−2s to wait: 17278 s.
	w = do(h, req{})
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "17278", w.Header().Get("Retry-After"))
	assert.Equal(t, `"daily";r=0;t=17278`, w.Header().Get("RateLimit"))
	assert.Equal(t, int64(5), hits.Load())

	// Another client has budgets of its own.
	assert.Equal(t, http.StatusNoContent, do(h, req{peer: "198.51.100.8:1"}).Code)
}

func TestCostPerRouteSharesTheBudget(t *testing.T) {
	c := clocktest.New(t0)
	window := keyed(t, c, ratelimit.Config{Limit: 10, Period: time.Minute})
	expensive, _ := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Name: "minute", Limiter: window}}, Cost: 3})
	cheap, _ := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Name: "minute", Limiter: window}}})
	assert.Equal(t, []int{204, 204, 204}, codes(expensive, req{}, req{}, req{}), "3 × 3 of 10 permits")
	w := do(expensive, req{})
	assert.Equal(t, http.StatusTooManyRequests, w.Code, "1 permit left, 3 needed")
	assert.Equal(t, `"minute";q=10;w=60`, w.Header().Get("RateLimit-Policy"))
	// The refused request took the last permit on its way (the limit errs
	// on the strict side): the cheap route is refused too, until the next
	// permit, 6 s later.
	w = do(cheap, req{})
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "6", w.Header().Get("Retry-After"))
	c.Advance(6 * time.Second)
	assert.Equal(t, []int{204, 429}, codes(cheap, req{}, req{}))
	c.Advance(18 * time.Second)
	assert.Equal(t, []int{204, 429}, codes(expensive, req{}, req{}))
}

func TestKeyBySubjectAPIKeyAndIP(t *testing.T) {
	c := clocktest.New(t0)
	window := keyed(t, c, ratelimit.Config{Limit: 1, Period: time.Hour})
	l, err := clientlimit.New(clientlimit.Config{Windows: []clientlimit.Window{{Limiter: window}}, KeyBy: []clientlimit.KeySource{clientlimit.BySubject, clientlimit.ByAPIKey, clientlimit.ByClientIP}})
	require.NoError(t, err)
	key := func(q req) string {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "203.0.113.9:5000"
		for i := 0; i+1 < len(q.headers); i += 2 {
			r.Header.Add(q.headers[i], q.headers[i+1])
		}
		if q.subject != "" {
			r = r.WithContext(jwtauth.NewContext(r.Context(), &jwtauth.Principal{Issuer: "https://id.test", Subject: q.subject}))
		}
		return l.Key(r)
	}
	assert.Equal(t, "sub:https://id.test alice", key(req{subject: "alice", headers: []string{"X-API-Key", "k"}}))
	assert.Equal(t, "key:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", key(req{headers: []string{"x-api-key", "password"}}), "the API key is hashed")
	assert.Equal(t, "ip:203.0.113.9", key(req{}))

	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	// One permit per client an hour: each kind of key is its own client, and
	// the same subject from two addresses is one client.
	assert.Equal(t, []int{204, 429, 204, 429, 204, 429, 204}, codes(h,
		req{subject: "alice", peer: "192.0.2.1:1"}, req{subject: "alice", peer: "192.0.2.2:1"},
		req{headers: []string{"X-API-Key", "k1"}, peer: "192.0.2.1:1"}, req{headers: []string{"X-API-Key", "k1"}, peer: "192.0.2.3:1"},
		req{peer: "192.0.2.9:1"}, req{peer: "192.0.2.9:2"},
		req{subject: "bob", peer: "192.0.2.9:3"}))

	// Without a key source that applies, requests share "anonymous".
	only, err := clientlimit.New(clientlimit.Config{Windows: []clientlimit.Window{{Limiter: window}}, KeyBy: []clientlimit.KeySource{clientlimit.BySubject}})
	require.NoError(t, err)
	assert.Equal(t, "anonymous", only.Key(httptest.NewRequest(http.MethodGet, "/", nil)))
}

func TestSpoofedForwardedForFromUntrustedPeer(t *testing.T) {
	c := clocktest.New(t0)
	window := keyed(t, c, ratelimit.Config{Limit: 1, Period: time.Hour})
	h, hits := limiter(t, clientlimit.Config{
		Windows: []clientlimit.Window{{Limiter: window}},
		Proxies: bulwarkhttp.Proxies{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	})
	// An untrusted peer rotating X-Forwarded-For is still one client.
	assert.Equal(t, []int{204, 429, 429}, codes(h,
		req{peer: "203.0.113.5:1", headers: []string{"X-Forwarded-For", "1.1.1.1"}},
		req{peer: "203.0.113.5:2", headers: []string{"X-Forwarded-For", "2.2.2.2"}},
		req{peer: "203.0.113.5:3", headers: []string{"X-Forwarded-For", "3.3.3.3, 10.0.0.1"}}))
	// Behind the trusted proxy the forwarded client counts, and a client
	// prepending a fake hop does not escape its limit.
	assert.Equal(t, []int{204, 429, 204}, codes(h,
		req{peer: "10.0.0.1:1", headers: []string{"X-Forwarded-For", "198.51.100.1"}},
		req{peer: "10.0.0.1:2", headers: []string{"X-Forwarded-For", "9.9.9.9, 198.51.100.1"}},
		req{peer: "10.0.0.1:3", headers: []string{"X-Forwarded-For", "198.51.100.2"}}))
	assert.Equal(t, int64(3), hits.Load())
}

// failing is a ratelimit.Store that is out of reach.
type failing struct{}

func (failing) Take(context.Context, string, ratelimit.Rule, time.Time) (time.Duration, error) {
	return 0, errors.New("store down")
}

func TestStoreFailureOpenOrClosed(t *testing.T) {
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Store: failing{}})
	require.NoError(t, err)
	obs := &recorder{}
	open, hits := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Limiter: k}}, Observer: obs})
	assert.Equal(t, http.StatusNoContent, do(open, req{}).Code)
	assert.Equal(t, int64(1), hits.Load())
	require.Len(t, obs.events, 1)
	assert.Equal(t, "clientlimit.limiter_failed", obs.events[0].Kind())

	closed, hits := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Limiter: k}}, FailClosed: true})
	w := do(closed, req{})
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
	assert.Equal(t, int64(0), hits.Load())
}

func TestConfigErrorsNameTheField(t *testing.T) {
	c := clocktest.New(t0)
	ok := keyed(t, c, ratelimit.Config{Limit: 1, Period: time.Second})
	odd := keyed(t, c, ratelimit.Config{Limit: 1, Period: 1500 * time.Millisecond})
	for want, cfg := range map[string]clientlimit.Config{
		"Config.Windows must list":              {},
		"Config.Windows[0].Limiter must not be": {Windows: []clientlimit.Window{{}}},
		"Config.Windows[0].Limiter's Period":    {Windows: []clientlimit.Window{{Limiter: odd}}},
		"Config.Windows[0].Name":                {Windows: []clientlimit.Window{{Name: `a"b`, Limiter: ok}}},
		"Config.Windows[1].Name \"1-per-1s\"":   {Windows: []clientlimit.Window{{Limiter: ok}, {Limiter: ok}}},
		"Config.KeyBy must list":                {Windows: []clientlimit.Window{{Limiter: ok}}, KeyBy: []clientlimit.KeySource{}},
		"Config.KeyBy[0]":                       {Windows: []clientlimit.Window{{Limiter: ok}}, KeyBy: []clientlimit.KeySource{9}},
		"Config.Proxies.Header":                 {Windows: []clientlimit.Window{{Limiter: ok}}, Proxies: bulwarkhttp.Proxies{Header: "X-Real-IP"}},
		"Config.Proxies.Trusted[0]":             {Windows: []clientlimit.Window{{Limiter: ok}}, Proxies: bulwarkhttp.Proxies{Trusted: []netip.Prefix{{}}}},
		"Config.Cost":                           {Windows: []clientlimit.Window{{Limiter: ok}}, Cost: 1001},
	} {
		_, err := clientlimit.New(cfg)
		assert.ErrorContains(t, err, "clientlimit: "+want)
	}
	assert.PanicsWithValue(t, "clientlimit: Limiter used without New", func() { (&clientlimit.Limiter{}).Handler(nil) })
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

func TestPolicyHeaderIsNotSharedWithHandlers(t *testing.T) {
	c := clocktest.New(t0)
	l, err := clientlimit.New(clientlimit.Config{Windows: []clientlimit.Window{{Name: "m", Limiter: keyed(t, c, ratelimit.Config{Limit: 100, Period: time.Minute})}}})
	require.NoError(t, err)
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("RateLimit-Policy", `"upstream";q=1`)
	}))
	for range 3 {
		w := do(h, req{})
		assert.Equal(t, []string{`"m";q=100;w=60`, `"upstream";q=1`}, w.Header().Values("RateLimit-Policy"))
	}
}

func TestDefaultConfigIsTheZeroConfig(t *testing.T) {
	assert.Equal(t, clientlimit.Config{KeyBy: []clientlimit.KeySource{clientlimit.ByClientIP}, APIKeyHeader: "X-API-Key", Cost: 1}, clientlimit.DefaultConfig())
	c := clocktest.New(t0)
	d := clientlimit.DefaultConfig()
	d.Windows = []clientlimit.Window{{Limiter: keyed(t, c, ratelimit.Config{Limit: 1, Period: time.Hour})}}
	h, _ := limiter(t, d)
	z, _ := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Limiter: keyed(t, c, ratelimit.Config{Limit: 1, Period: time.Hour})}}})
	for _, h := range []http.Handler{h, z} {
		assert.Equal(t, []int{204, 429, 204}, codes(h, req{peer: "192.0.2.1:1", headers: []string{"X-Forwarded-For", "1.2.3.4"}}, req{peer: "192.0.2.1:2"}, req{peer: "192.0.2.2:1"}))
	}
}
