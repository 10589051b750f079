// Package redistest gives each Redis test a key prefix of its own on the
// server named by BULWARK_REDIS_ADDR, and deletes its keys afterwards, so
// tests run in parallel across packages without seeing each other's keys.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Client returns a client of the test's server, closed when the test ends,
// and a random key prefix whose keys are deleted then. It skips or fails
// the test as testenv.RedisAddr does when no server is configured.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t), PoolSize: 64})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: connecting to %s: %v", testenv.RedisVar, err)
	}
	prefix := Prefix()
	t.Cleanup(func() {
		defer c.Close()
		if err := DeletePrefix(context.Background(), c, prefix); err != nil {
			t.Errorf("redistest: deleting keys %s*: %v", prefix, err)
		}
	})
	return c, prefix
}

// Prefix returns a random key prefix, "t:<hex>:".
func Prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t:" + hex.EncodeToString(b[:]) + ":"
}

// DeletePrefix deletes every key that starts with prefix.
func DeletePrefix(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) > 0 {
		return c.Unlink(ctx, keys...).Err()
	}
	return nil
}
