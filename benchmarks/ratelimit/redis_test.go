package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// redisKeyedImpls are Keyed.Allow through the Redis store and through the
// memory store (the floor: no round trip), and go-redis/redis_rate, whose
// Lua script is also a token bucket (GCRA), in floats on Redis's clock.
var redisKeyedImpls = []struct {
	name, store string
	allow       func(b *testing.B, c *redis.Client, prefix string) func(key string) bool
}{
	{"bulwark", "redis", func(b *testing.B, c *redis.Client, prefix string) func(string) bool {
		s, err := redisratelimit.New(c, redisratelimit.Config{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
			Config: ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst},
			Store:  s,
		})
		if err != nil {
			b.Fatal(err)
		}
		return func(key string) bool { return k.Allow(key) == nil }
	}},
	{"bulwark", "memory", func(b *testing.B, _ *redis.Client, _ string) func(string) bool {
		k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
			Config:  ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst},
			MaxKeys: 10_000,
		})
		if err != nil {
			b.Fatal(err)
		}
		return func(key string) bool { return k.Allow(key) == nil }
	}},
	{"redisrate", "redis", func(b *testing.B, c *redis.Client, prefix string) func(string) bool {
		l := redis_rate.NewLimiter(c)
		limit := redis_rate.Limit{Rate: perSecond, Period: time.Second, Burst: burst}
		ctx := context.Background()
		return func(key string) bool {
			res, err := l.Allow(ctx, prefix+key, limit)
			if err != nil {
				b.Error(err)
				return false
			}
			return res.Allowed == 1
		}
	}},
}

// BenchmarkRedisKeyedAllow checks permitted calls over 1,000 keys shared in
// Redis, from one goroutine (the latency of a call) and from 16 (a server
// with requests in flight: the throughput one process gets), with the
// commands sent per call as roundtrips/op.
func BenchmarkRedisKeyedAllow(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(b), PoolSize: 32})
	defer c.Close()
	openConns(b, c, 16)
	sent := &commandCounter{}
	c.AddHook(sent)
	var name [6]byte
	_, _ = rand.Read(name[:])
	prefix := "bench:" + hex.EncodeToString(name[:]) + ":"
	defer deleteKeys(c, prefix, "rate:"+prefix)
	for _, goroutines := range []int{1, 16} {
		for _, im := range redisKeyedImpls {
			b.Run(fmt.Sprintf("impl=%s/store=%s/goroutines=%d", im.name, im.store, goroutines), func(b *testing.B) {
				allow := im.allow(b, c, prefix)
				if !allow("warm-up") { // the server may not have the script yet
					b.Fatal("limited")
				}
				b.ReportAllocs()
				before := sent.n.Load()
				if goroutines == 1 {
					for i := 0; b.Loop(); i += 7 {
						if !allow(keys[i%len(keys)]) {
							b.Fatal("limited")
						}
					}
				} else {
					var next atomic.Int64
					b.SetParallelism(max(goroutines/runtime.GOMAXPROCS(0), 1))
					b.RunParallel(func(pb *testing.PB) {
						for i := int(next.Add(1)) * 131; pb.Next(); i += 7 {
							if !allow(keys[i%len(keys)]) {
								b.Error("limited")
								return
							}
						}
					})
				}
				b.ReportMetric(float64(sent.n.Load()-before)/float64(b.N), "roundtrips/op")
			})
		}
	}
}

// openConns fills c's pool with n connections, so that no benchmark pays
// for dialling them (or counts the commands that set them up).
func openConns(b *testing.B, c *redis.Client, n int) {
	ctx := context.Background()
	conns := make([]*redis.Conn, n)
	for i := range conns {
		conns[i] = c.Conn()
		if err := conns[i].Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
	for _, cn := range conns {
		cn.Close()
	}
}

// deleteKeys deletes the keys under each prefix.
func deleteKeys(c *redis.Client, prefixes ...string) {
	ctx := context.Background()
	for _, p := range prefixes {
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Unlink(ctx, iter.Val())
		}
	}
}

// commandCounter counts the commands a go-redis client sends.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
