package bulwarkhttp_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/require"
)

// FuzzNewTransport: whatever the settings and the status a server
// answers, RoundTrip returns a response or an error, never both or
// neither, and the error of a failure is the *StatusError.
func FuzzNewTransport(f *testing.F) {
	f.Add(200, false, false)
	f.Add(503, true, false)
	f.Add(429, false, true)
	f.Add(999, true, true)
	f.Add(100, true, false)
	f.Fuzz(func(t *testing.T, status int, failureAsError, customFailure bool) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		base := roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Status: strconv.Itoa(status), Body: io.NopCloser(strings.NewReader("x")), Header: http.Header{}}, nil
		})
		cfg := bulwarkhttp.TransportConfig{Base: base, FailureAsError: failureAsError}
		if customFailure {
			cfg.IsFailure = func(r *http.Response) bool { return r.StatusCode%2 == 1 }
		}
		tr, err := bulwarkhttp.NewTransport(bulwark.Chain(), cfg)
		require.NoError(t, err)
		resp, err := tr.RoundTrip(httptest.NewRequest(http.MethodGet, "http://example.test/", nil))
		require.True(t, (resp == nil) != (err == nil), "response %v, error %v", resp, err)
		failure := status >= 500 || status == 429
		if customFailure {
			failure = status%2 == 1
		}
		if err != nil {
			var se *bulwarkhttp.StatusError
			require.True(t, errors.As(err, &se), "%v", err)
			require.True(t, failureAsError && failure)
			require.Equal(t, status, se.StatusCode)
			return
		}
		require.False(t, failureAsError && failure)
		require.NoError(t, resp.Body.Close())
	})
}

// FuzzNewShedder: any RetryAfter is an error, or a Shedder that answers a
// rejection with 503 and a Retry-After of at least 1 second.
func FuzzNewShedder(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(-1), int64(0))
	f.Add(int64(time.Second), int64(30*time.Second))
	f.Add(int64(1), int64(-5))
	f.Add(int64(1<<63-1), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, retryAfter, hint int64) {
		reject := bulwark.PolicyFunc(func(context.Context, func(context.Context) error) error {
			return hinted{time.Duration(hint)}
		})
		s, err := bulwarkhttp.NewShedder(reject, bulwarkhttp.ShedderConfig{RetryAfter: time.Duration(retryAfter)})
		if err != nil {
			require.Contains(t, err.Error(), "ShedderConfig.RetryAfter")
			return
		}
		w := httptest.NewRecorder()
		s.Handler(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
		secs, err := strconv.ParseInt(w.Header().Get("Retry-After"), 10, 64)
		require.NoError(t, err)
		require.GreaterOrEqual(t, secs, int64(1))
	})
}

// hinted is a rejection that suggests a wait.
type hinted struct{ wait time.Duration }

func (h hinted) Error() string             { return "rejected" }
func (h hinted) RetryAfter() time.Duration { return h.wait }
func (h hinted) Is(target error) bool      { return target == bulwark.ErrRejected }

// oncePerKey allows each key one request.
type oncePerKey struct{ seen map[string]bool }

func (l *oncePerKey) Allow(key string) error {
	if l.seen[key] {
		return &ratelimit.LimitedError{Delay: time.Second}
	}
	l.seen[key] = true
	return nil
}

// FuzzNewRateLimiter: any proxies setting is an error, or a RateLimiter
// that serves a client's first request and limits its second.
func FuzzNewRateLimiter(f *testing.F) {
	f.Add("", "10.0.0.0", 8, "10.0.0.1:1", "198.51.100.1")
	f.Add("Forwarded", "2001:db8::", 32, "[2001:db8::1]:5", "for=198.51.100.1")
	f.Add("X-Real-IP", "10.0.0.0", 8, "10.0.0.1:1", "1.1.1.1")
	f.Add("x-forwarded-for", "1.2.3.4", 99, "1.2.3.4:1", "garbage")
	f.Add("", "", 0, "@", "")
	f.Fuzz(func(t *testing.T, header, addr string, bits int, remote, value string) {
		var prefixes []netip.Prefix
		if a, err := netip.ParseAddr(addr); err == nil {
			prefixes = append(prefixes, netip.PrefixFrom(a, bits))
		}
		limiter := &oncePerKey{seen: map[string]bool{}}
		rl, err := bulwarkhttp.NewRateLimiter(limiter, bulwarkhttp.RateLimiterConfig{Proxies: bulwarkhttp.Proxies{Trusted: prefixes, Header: header}})
		if err != nil {
			require.Contains(t, err.Error(), "RateLimiterConfig.Proxies")
			return
		}
		h := rl.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		var codes []int
		for range 2 {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = remote
			r.Header["X-Forwarded-For"] = []string{value}
			r.Header["Forwarded"] = []string{value}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			codes = append(codes, w.Code)
		}
		require.Equal(t, []int{200, 429}, codes)
	})
}
