package bulwarkhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewShedderRejectsInvalidConfig(t *testing.T) {
	pass := bulwark.Chain()
	_, err := bulwarkhttp.NewShedder(nil, bulwarkhttp.DefaultShedderConfig())
	assert.EqualError(t, err, "bulwarkhttp: NewShedder needs a policy, got nil")
	_, err = bulwarkhttp.NewShedder(pass, bulwarkhttp.ShedderConfig{RetryAfter: -time.Second})
	assert.EqualError(t, err, "bulwarkhttp: ShedderConfig.RetryAfter must be 0 (meaning 1s) or > 0, got -1s")
	assert.PanicsWithValue(t, "bulwarkhttp: Shedder used without NewShedder", func() { new(bulwarkhttp.Shedder).Handler(http.NotFoundHandler()) })
}

func newShedder(t *testing.T, p bulwark.Policy, cfg bulwarkhttp.ShedderConfig) *bulwarkhttp.Shedder {
	t.Helper()
	s, err := bulwarkhttp.NewShedder(p, cfg)
	require.NoError(t, err)
	return s
}

// problemOf decodes a problem+json answer, failing the test if it is not one.
func problemOf(t *testing.T, contentType string, body []byte) map[string]any {
	t.Helper()
	assert.Equal(t, "application/problem+json", contentType)
	var p map[string]any
	require.NoError(t, json.Unmarshal(body, &p), "%s", body)
	return p
}

// A full bulkhead sheds the request at once with 503 and Retry-After, and
// the server serves again once a permit is free.
func TestShedderShedsWhenTheBulkheadIsFull(t *testing.T) {
	bh, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	require.NoError(t, err)
	var rejected []bulwarkhttp.Shed
	cfg := bulwarkhttp.DefaultShedderConfig()
	cfg.RetryAfter = 1500 * time.Millisecond
	cfg.Name = "api"
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { rejected = append(rejected, e.(bulwarkhttp.Shed)) })
	entered, release := make(chan struct{}), make(chan struct{})
	var served atomic.Int32
	h := newShedder(t, bh, cfg).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		fmt.Fprint(w, "served")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	slow := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		assert.NoError(t, err)
		slow <- resp
	}()
	<-entered

	resp, err := http.Get(srv.URL + "/fast")
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"), "RetryAfter rounded up to whole seconds")
	p := problemOf(t, resp.Header.Get("Content-Type"), []byte(readBody(t, resp)))
	assert.Equal(t, "Service Unavailable", p["title"])
	assert.Equal(t, float64(503), p["status"])
	require.Len(t, rejected, 1)
	assert.ErrorIs(t, rejected[0].Err, bulkhead.ErrFull)
	assert.Equal(t, "api", rejected[0].Component())
	assert.Equal(t, "bulwarkhttp.shed", rejected[0].Kind())
	assert.Equal(t, "/fast", rejected[0].Path)
	assert.Equal(t, int32(1), served.Load(), "the shed request never reached the handler")

	close(release)
	resp = <-slow
	assert.Equal(t, "served", readBody(t, resp))
	resp, err = http.Get(srv.URL + "/fast")
	require.NoError(t, err)
	assert.Equal(t, "served", readBody(t, resp))
}

// A rejection that knows when to come back (an open breaker) sets Retry-After.
func TestShedderSendsTheRejectionsRetryAfter(t *testing.T) {
	cfg := circuitbreaker.DefaultConfig()
	cfg.ConsecutiveFailures = 1
	cfg.OpenWait = 30 * time.Second
	cfg.OpenWaitJitter = circuitbreaker.NoJitter
	cfg.Clock = clocktest.New(epoch)
	breaker, err := circuitbreaker.New(cfg)
	require.NoError(t, err)
	_ = breaker.Do(context.Background(), func(context.Context) error { return errors.New("dependency down") })

	h := newShedder(t, breaker, bulwarkhttp.ShedderConfig{}).
		Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { t.Error("handler ran behind an open breaker") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "30", w.Header().Get("Retry-After"))
}

// The handler runs at most once, with the policy's context, however often
// the policy runs its operation.
func TestShedderServesOnce(t *testing.T) {
	type key struct{}
	var second error
	twice := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		ctx = context.WithValue(ctx, key{}, "from the policy")
		err := op(ctx)
		second = op(ctx)
		return err
	})
	var calls int
	var seen any
	h := newShedder(t, twice, bulwarkhttp.ShedderConfig{}).
		Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls++
			seen = r.Context().Value(key{})
			fmt.Fprint(w, "once")
		}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, 1, calls)
	assert.Equal(t, "from the policy", seen)
	assert.Error(t, second)
	assert.Equal(t, "once", w.Body.String())
}

// A policy that returns an error after the handler ran (here a timeout) does
// not overwrite the handler's response, and a policy that returns while the
// handler still runs (a detached timeout) does not end the request early.
func TestShedderWaitsForTheHandler(t *testing.T) {
	fc := clocktest.New(epoch)
	tm, err := timeout.New(timeout.Config{Timeout: time.Second, Detach: true, Clock: fc})
	require.NoError(t, err)
	entered, release := make(chan struct{}), make(chan struct{})
	h := newShedder(t, tm, bulwarkhttp.ShedderConfig{}).
		Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
			fmt.Fprint(w, "slow but whole")
		}))
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		close(done)
	}()
	<-entered
	fc.BlockUntil(1)
	fc.Advance(time.Second) // the timeout gives up on the handler
	select {
	case <-done:
		t.Fatal("ServeHTTP returned while the handler was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "slow but whole", w.Body.String())
}

func TestShedderRejectsWhenThePolicyNeverRunsTheHandler(t *testing.T) {
	silent := bulwark.PolicyFunc(func(context.Context, func(context.Context) error) error { return nil })
	h := newShedder(t, silent, bulwarkhttp.ShedderConfig{}).
		Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler ran") }))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
}

func TestNewRateLimiterRejectsInvalidConfig(t *testing.T) {
	_, err := bulwarkhttp.NewRateLimiter(nil, bulwarkhttp.DefaultRateLimiterConfig())
	assert.EqualError(t, err, "bulwarkhttp: NewRateLimiter needs a limiter, got nil")
	_, err = bulwarkhttp.NewRateLimiter(failingLimiter{}, bulwarkhttp.RateLimiterConfig{Proxies: bulwarkhttp.Proxies{Header: "X-Real-IP"}})
	assert.EqualError(t, err, `bulwarkhttp: RateLimiterConfig.Proxies.Header must be "", "X-Forwarded-For" or "Forwarded", got "X-Real-IP"`)
	_, err = bulwarkhttp.NewRateLimiter(failingLimiter{}, bulwarkhttp.RateLimiterConfig{Proxies: bulwarkhttp.Proxies{Trusted: []netip.Prefix{{}}}})
	assert.EqualError(t, err, "bulwarkhttp: RateLimiterConfig.Proxies.Trusted[0] must be a valid prefix, got invalid Prefix")
	_, err = bulwarkhttp.NewRateLimiter(failingLimiter{}, bulwarkhttp.RateLimiterConfig{Proxies: bulwarkhttp.Proxies{Header: "forwarded"}})
	assert.NoError(t, err, "header names are case-insensitive")
	assert.PanicsWithValue(t, "bulwarkhttp: RateLimiter used without NewRateLimiter", func() { new(bulwarkhttp.RateLimiter).Handler(http.NotFoundHandler()) })
}

// Each client has its own limit; over it, 429 with the limiter's RetryAfter.
func TestRateLimiterLimitsEachClient(t *testing.T) {
	fc := clocktest.New(epoch)
	kcfg := ratelimit.DefaultKeyedConfig()
	kcfg.Limit, kcfg.Period, kcfg.Burst = 2, time.Minute, 2
	kcfg.Clock = fc
	keyed, err := ratelimit.NewKeyed(kcfg)
	require.NoError(t, err)
	type limited struct {
		key  string
		wait time.Duration
	}
	var seen []limited
	rl, err := bulwarkhttp.NewRateLimiter(keyed, bulwarkhttp.RateLimiterConfig{
		Key: func(r *http.Request) string { return r.Header.Get("X-Client") },
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			l := e.(bulwarkhttp.Limited)
			seen = append(seen, limited{l.Key, l.Wait})
		}),
	})
	require.NoError(t, err)
	h := rl.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	get := func(client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Client", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	assert.Equal(t, http.StatusOK, get("a").Code)
	assert.Equal(t, http.StatusOK, get("a").Code)
	w := get("a")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "30", w.Header().Get("Retry-After"), "a token comes back every 30 s")
	assert.Equal(t, float64(429), problemOf(t, w.Header().Get("Content-Type"), w.Body.Bytes())["status"])
	assert.Equal(t, []limited{{"a", 30 * time.Second}}, seen)
	assert.Equal(t, http.StatusOK, get("b").Code, "another client has its own limit")

	fc.Advance(30 * time.Second)
	assert.Equal(t, http.StatusOK, get("a").Code, "back after Retry-After")
}

type failingLimiter struct{ err error }

func (l failingLimiter) Allow(string) error { return l.err }

// A limiter that fails (its store is out of reach) is not an outage of the
// service, unless FailClosed says so.
func TestRateLimiterWhenTheLimiterFails(t *testing.T) {
	errStore := errors.New("redis: connection refused")
	for _, failClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("FailClosed=%v", failClosed), func(t *testing.T) {
			var errs []error
			rl, err := bulwarkhttp.NewRateLimiter(failingLimiter{errStore}, bulwarkhttp.RateLimiterConfig{
				FailClosed: failClosed,
				Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
					errs = append(errs, e.(bulwarkhttp.LimiterFailed).Err)
				}),
			})
			require.NoError(t, err)
			served := false
			h := rl.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served = true }))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			assert.Equal(t, []error{errStore}, errs)
			assert.Equal(t, !failClosed, served)
			if failClosed {
				assert.Equal(t, http.StatusServiceUnavailable, w.Code)
				assert.Equal(t, "1", w.Header().Get("Retry-After"))
			} else {
				assert.Equal(t, http.StatusOK, w.Code)
			}
		})
	}
}

func TestRateLimiterRetryAfterIsAtLeastASecond(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		0:                       "1",
		time.Nanosecond:         "1",
		time.Second:             "1",
		time.Second + 1:         "2",
		90 * time.Second:        "90",
		90*time.Second + 999999: "91",
	} {
		rl, err := bulwarkhttp.NewRateLimiter(failingLimiter{&ratelimit.LimitedError{Delay: wait}}, bulwarkhttp.RateLimiterConfig{})
		require.NoError(t, err)
		w := httptest.NewRecorder()
		rl.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, want, w.Header().Get("Retry-After"), "wait %v", wait)
	}
}

func TestRemoteIP(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:1234":     "192.0.2.1",
		"[2001:db8::1]:8080": "2001:db8::1",
		"@":                  "@", // a unix socket peer has no port
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		assert.Equal(t, want, bulwarkhttp.RemoteIP(r))
	}
}

// The default key is the remote IP: two clients, two limits.
func TestRateLimiterKeysByRemoteIPByDefault(t *testing.T) {
	kcfg := ratelimit.DefaultKeyedConfig()
	kcfg.Limit, kcfg.Period, kcfg.Burst = 1, time.Hour, 1
	kcfg.Clock = clocktest.New(epoch)
	keyed, err := ratelimit.NewKeyed(kcfg)
	require.NoError(t, err)
	rl, err := bulwarkhttp.NewRateLimiter(keyed, bulwarkhttp.RateLimiterConfig{})
	require.NoError(t, err)
	h := rl.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	status := func(addr string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	assert.Equal(t, 200, status("192.0.2.1:1000"))
	assert.Equal(t, 429, status("192.0.2.1:2000"), "same IP, another port: same client")
	assert.Equal(t, 200, status("192.0.2.2:1000"))
}
