package redisratelimit_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
)

// One limit per client across every instance of a service: 100 requests
// a second with bursts of 200, kept in Redis, answering 429 with
// Retry-After beyond it. The client gives up on Redis quickly, and the
// service keeps serving (fails open) while Redis is down.
func Example() {
	rdb := redis.NewClient(&redis.Options{
		Addr:          "127.0.0.1:6379",
		MaxRetries:    -1,
		DialerRetries: 1,
		DialTimeout:   100 * time.Millisecond,
		ReadTimeout:   100 * time.Millisecond,
	})
	store, err := redisratelimit.New(redisratelimit.Config{Client: rdb, Prefix: "orders-api:ratelimit:"})
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config: ratelimit.Config{Limit: 100, Period: time.Second, Burst: 200},
		Store:  store,
	})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := bulwarkhttp.NewRateLimiter(bulwarkhttp.RateLimiterConfig{
		Limiter: limiter,
		OnError: func(_ *http.Request, key string, err error) { log.Printf("rate limit of %s not checked: %v", key, err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/orders", mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})))

	// Outside HTTP, the limiter's error says whether the call was limited,
	// and for how long, or whether Redis could not say.
	switch err := limiter.Allow("client-42"); {
	case err == nil:
		// go ahead
	case errors.Is(err, ratelimit.ErrLimited):
		var limited *ratelimit.LimitedError
		errors.As(err, &limited)
		log.Printf("come back in %v", limited.RetryAfter())
	default:
		log.Printf("Redis unreachable: %v", err)
	}
}
