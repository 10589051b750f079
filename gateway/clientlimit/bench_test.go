package clientlimit_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/gateway/clientlimit"
	"github.com/bulwark-go/bulwark/gateway/jwtauth"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// BenchmarkPermitted measures the permitted path (limits far above the
// load, 1,024 clients by subject) through a Limiter with one and with two
// windows, beside bulwarkhttp.RateLimiter on the same Keyed (one window,
// keyed by IP), the single-limit middleware it extends.
func BenchmarkPermitted(b *testing.B) {
	newKeyed := func(period time.Duration) *ratelimit.Keyed {
		k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 100_000_000, Period: period}})
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	var next atomic.Int64
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			reqs := make([]*http.Request, 64)
			for i := range reqs {
				n := next.Add(1) % 1024
				r := httptest.NewRequest(http.MethodGet, "/orders", nil)
				r.RemoteAddr = "192.0.2." + strconv.Itoa(int(n%250)) + ":1234"
				reqs[i] = r.WithContext(jwtauth.NewContext(r.Context(), &jwtauth.Principal{Subject: "user-" + strconv.Itoa(int(n))}))
			}
			w := httptest.NewRecorder()
			i := 0
			for pb.Next() {
				h.ServeHTTP(w, reqs[i%len(reqs)])
				i++
			}
		})
	}
	b.Run("clientlimit 1 window", func(b *testing.B) {
		l, err := clientlimit.New(clientlimit.Config{Windows: []clientlimit.Window{{Limiter: newKeyed(time.Second)}}, KeyBy: []clientlimit.KeySource{clientlimit.BySubject}})
		if err != nil {
			b.Fatal(err)
		}
		run(b, l.Handler(noop))
	})
	b.Run("clientlimit 2 windows", func(b *testing.B) {
		l, err := clientlimit.New(clientlimit.Config{Windows: []clientlimit.Window{{Limiter: newKeyed(time.Second)}, {Limiter: newKeyed(24 * time.Hour)}}, KeyBy: []clientlimit.KeySource{clientlimit.BySubject}})
		if err != nil {
			b.Fatal(err)
		}
		run(b, l.Handler(noop))
	})
	b.Run("bulwarkhttp.RateLimiter", func(b *testing.B) {
		l, err := bulwarkhttp.NewRateLimiter(newKeyed(time.Second), bulwarkhttp.RateLimiterConfig{})
		if err != nil {
			b.Fatal(err)
		}
		run(b, l.Handler(noop))
	})
}
