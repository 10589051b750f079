package redisidempotency_test

import (
	"context"
	"fmt"

	"github.com/bulwark-go/bulwark/adapters/redis/redisidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/redis/go-redis/v9"
)

// A Keeper over Redis; Redis deletes expired records itself, so no Cleaner
// is needed.
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store, err := redisidempotency.New(client, redisidempotency.Config{Prefix: "payments:idempotency:"})
	if err != nil {
		panic(err)
	}
	keeper, err := idempotency.New(store, idempotency.Config{})
	if err != nil {
		panic(err)
	}
	req := idempotency.Request{Scope: "customer-42", Key: "order-1001", Fingerprint: []byte("amount=500")}
	id, err := idempotency.Do(context.Background(), keeper, req, func(ctx context.Context) (string, error) {
		return "ch_1", nil // charge the card
	})
	fmt.Println(id, err)
}

// An idempotent consumer whose processed message IDs live in Redis.
func Example_inbox() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()
	store, _ := redisidempotency.New(client, redisidempotency.Config{})
	keeper, _ := idempotency.New(store, idempotency.Config{}) // its TTL (24 h) is the retention
	inbox, _ := idempotency.NewInbox(keeper, idempotency.InboxConfig{Consumer: "billing"})
	ran, err := inbox.Process(context.Background(), "msg-1", func(ctx context.Context) error {
		return nil // handle the message
	})
	fmt.Println(ran, err)
}
