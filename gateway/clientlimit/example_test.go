package clientlimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/bulwark-go/bulwark/gateway/clientlimit"
	"github.com/bulwark-go/bulwark/ratelimit"
)

func Example() {
	// Two windows: 2 a second and 1,000 a day, kept in memory (give the
	// Keyed a redisratelimit.Store to share them between processes).
	perSecond, _ := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 2, Period: time.Second}})
	perDay, _ := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 1000, Period: 24 * time.Hour}})
	l, err := clientlimit.New(clientlimit.Config{
		Windows: []clientlimit.Window{{Name: "burst", Limiter: perSecond}, {Name: "daily", Limiter: perDay}},
		KeyBy:   []clientlimit.KeySource{clientlimit.ByAPIKey, clientlimit.ByClientIP},
	})
	if err != nil {
		panic(err)
	}
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/search", nil)
		r.Header.Set("X-API-Key", "team-a")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d %s [%s] [%s]\n", w.Code, w.Header().Get("RateLimit-Policy"), w.Header().Get("RateLimit"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 "burst";q=2;w=1, "daily";q=1000;w=86400 [] []
	// 200 "burst";q=2;w=1, "daily";q=1000;w=86400 [] []
	// 429 "burst";q=2;w=1, "daily";q=1000;w=86400 ["burst";r=0;t=1] [1]
}
