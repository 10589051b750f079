// release-check: build

// Command redis limits calls per client across processes, with the limit's
// state in Redis. It needs a server: REDIS_ADDR (default localhost:6379).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
)

func main() {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		addr = "localhost:6379"
	}
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	store, err := redisratelimit.New(client, redisratelimit.Config{Prefix: "example:"})
	if err != nil {
		log.Fatal(err)
	}
	limits, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config: ratelimit.Config{Limit: 5, Period: time.Second},
		Store:  store,
	})
	if err != nil {
		log.Fatal(err)
	}
	err = limits.Do(context.Background(), "client-42", func(context.Context) error { return nil })
	fmt.Println("first call:", err)
}
