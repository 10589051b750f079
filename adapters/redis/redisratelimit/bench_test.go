package redisratelimit_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
)

// sent counts the commands a client sends.
type sent struct{ n atomic.Int64 }

func (s *sent) DialHook(next redis.DialHook) redis.DialHook { return next }

func (s *sent) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		s.n.Add(1)
		return next(ctx, cmd)
	}
}

func (s *sent) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// BenchmarkTake measures Store.Take, permitted, over 1,000 keys, from one
// goroutine (a call's latency) and from 16 (throughput), reporting the
// commands sent per call as roundtrips/op.
func BenchmarkTake(b *testing.B) {
	s, c, _ := newStore(b)
	// Open the connections the goroutines use before counting commands.
	conns := make([]*redis.Conn, 16)
	for i := range conns {
		conns[i] = c.Conn()
		if err := conns[i].Ping(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
	}
	for _, cn := range conns {
		cn.Close()
	}
	counter := &sent{}
	c.AddHook(counter)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("client-", i)
	}
	ctx := context.Background()
	for _, r := range []ratelimit.Rule{
		{Algorithm: ratelimit.TokenBucket, Limit: 1_000_000_000, Period: time.Second, Burst: 1_000_000},
		{Algorithm: ratelimit.SlidingWindow, Limit: 1_000_000_000, Period: time.Second},
	} {
		if _, err := s.Take(ctx, "warm-up", r, time.Now()); err != nil {
			b.Fatal(err)
		}
		for _, goroutines := range []int{1, 16} {
			b.Run(fmt.Sprintf("algorithm=%v/goroutines=%d", r.Algorithm, goroutines), func(b *testing.B) {
				b.ReportAllocs()
				before := counter.n.Load()
				take := func(i int) bool {
					d, err := s.Take(ctx, keys[i%len(keys)], r, time.Now())
					if err != nil || d != 0 {
						b.Errorf("wait %v, error %v", d, err)
						return false
					}
					return true
				}
				if goroutines == 1 {
					for i := 0; b.Loop() && take(i); i += 7 {
					}
				} else {
					var next atomic.Int64
					b.SetParallelism(max(goroutines/runtime.GOMAXPROCS(0), 1))
					b.RunParallel(func(pb *testing.PB) {
						for i := int(next.Add(1)) * 131; pb.Next() && take(i); i += 7 {
						}
					})
				}
				b.ReportMetric(float64(counter.n.Load()-before)/float64(b.N), "roundtrips/op")
			})
		}
	}
}
