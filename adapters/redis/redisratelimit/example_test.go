package redisratelimit_test

import (
	"errors"
	"log"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
)

// One limit per client across every instance of a service: 100 calls a
// second with bursts of 200, kept in Redis. The client gives up on Redis
// quickly, and the caller decides what a call does while Redis is down
// (here it goes ahead: fail open). It needs a Redis on 127.0.0.1:6379, so
// it has no output to check.
func Example() {
	rdb := redis.NewClient(&redis.Options{
		Addr:          "127.0.0.1:6379",
		MaxRetries:    -1,
		DialerRetries: 1,
		DialTimeout:   100 * time.Millisecond,
		ReadTimeout:   100 * time.Millisecond,
	})
	defer rdb.Close()
	store, err := redisratelimit.New(rdb, redisratelimit.Config{Prefix: "orders-api:ratelimit:"})
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

	// The limiter's error says whether the call was limited, and for how
	// long, or whether Redis could not say.
	switch err := limiter.Allow("client-42"); {
	case err == nil:
		// go ahead
	case errors.Is(err, bulwark.ErrRejected):
		wait, _ := bulwark.RetryAfter(err)
		log.Printf("come back in %v", wait)
	default:
		log.Printf("Redis unreachable, serving anyway: %v", err)
	}
}
