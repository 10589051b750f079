package clientlimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/gateway/clientlimit"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// redisLimiter is one gateway process's Limiter: its own Redis client and
// Keyed limiters, on the store prefix the processes share.
func redisLimiter(t *testing.T, prefix string) http.Handler {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx).Err())
	store, err := redisratelimit.New(c, redisratelimit.Config{Prefix: prefix})
	require.NoError(t, err)
	perMinute, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Limit: 5, Period: time.Minute}, Store: store})
	require.NoError(t, err)
	perDay, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 1000, Period: 24 * time.Hour}, Store: store})
	require.NoError(t, err)
	h, _ := limiter(t, clientlimit.Config{Windows: []clientlimit.Window{{Name: "minute", Limiter: perMinute}, {Name: "day", Limiter: perDay}}, KeyBy: []clientlimit.KeySource{clientlimit.BySubject}})
	return h
}

func TestTwoInstancesShareTheLimitInRedis(t *testing.T) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "t:" + hex.EncodeToString(b[:]) + ":"
	a, bInst := redisLimiter(t, prefix), redisLimiter(t, prefix)
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
		defer c.Close()
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("deleting %s*: %v", prefix, err)
		}
	})
	// Alternating between the two instances, one subject gets 5 a minute in
	// all, not 5 from each.
	var got []int
	for i := range 8 {
		h := a
		if i%2 == 1 {
			h = bInst
		}
		got = append(got, do(h, req{subject: "carol"}).Code)
	}
	assert.Equal(t, []int{204, 204, 204, 204, 204, 429, 429, 429}, got)
	w := do(bInst, req{subject: "carol"})
	assert.Equal(t, `"minute";r=0;t=12`, w.Header().Get("RateLimit"))
	assert.Equal(t, "12", w.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusNoContent, do(a, req{subject: "dave"}).Code, "another subject is not limited")
}
