// Package ratelimit measures bulwark's rate limiters beside
// golang.org/x/time/rate, go.uber.org/ratelimit and failsafe-go's rate
// limiter.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	fsratelimiter "github.com/failsafe-go/failsafe-go/ratelimiter"
	uberratelimit "go.uber.org/ratelimit"
	"golang.org/x/time/rate"

	"github.com/bulwark-go/bulwark/benchmarks/internal/sidebyside"
	"github.com/bulwark-go/bulwark/ratelimit"
)

// A rate so high that no call here is ever limited: the benchmarks measure
// a permitted call's cost, not the rate.
const (
	perSecond = 1_000_000_000
	burst     = 1_000_000
)

func bulwarkLimiter(b *testing.B, cfg ratelimit.Config) *ratelimit.Limiter {
	l, err := ratelimit.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

var (
	errLimited   = errors.New("limited")
	errPermitted = errors.New("permitted")
)

// expect returns an operation that fails with err when check reports false.
func expect(check func() bool, err error) func() error {
	return func() error {
		if !check() {
			return err
		}
		return nil
	}
}

// allowImpls are the limiters with a non-blocking check.
var allowImpls = []sidebyside.Impl{
	{Name: "bulwark", Make: func(b *testing.B) func() error {
		l := bulwarkLimiter(b, ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst})
		return expect(func() bool { return l.Allow() == nil }, errLimited) // wrapped as the peers are
	}},
	{Name: "xtime", Make: func(*testing.B) func() error {
		return expect(rate.NewLimiter(perSecond, burst).Allow, errLimited)
	}},
	{Name: "failsafe", Make: func(*testing.B) func() error {
		return expect(fsratelimiter.NewBursty[any](perSecond, time.Second).TryAcquirePermit, errLimited)
	}},
}

// BenchmarkAllow checks a permitted call on one goroutine.
func BenchmarkAllow(b *testing.B) { sidebyside.Serial(b, allowImpls) }

// BenchmarkAllowParallel checks permitted calls from GOMAXPROCS goroutines
// sharing one limiter: a server's global limit under load.
func BenchmarkAllowParallel(b *testing.B) { sidebyside.Parallel(b, allowImpls) }

// BenchmarkRejectParallel checks calls against an exhausted limiter: the
// cost of turning away a flood. bulwark's rejection is an error carrying
// RetryAfter; the peers answer false.
func BenchmarkRejectParallel(b *testing.B) {
	sidebyside.Parallel(b, []sidebyside.Impl{
		{Name: "bulwark", Make: func(b *testing.B) func() error {
			l := bulwarkLimiter(b, ratelimit.Config{Limit: 1, Period: time.Hour})
			l.Allow()
			return expect(func() bool { return l.Allow() != nil }, errPermitted)
		}},
		{Name: "xtime", Make: func(*testing.B) func() error {
			l := rate.NewLimiter(rate.Every(time.Hour), 1)
			l.Allow()
			return expect(func() bool { return !l.Allow() }, errPermitted)
		}},
		{Name: "failsafe", Make: func(*testing.B) func() error {
			l := fsratelimiter.NewBursty[any](1, time.Hour)
			l.TryAcquirePermit()
			return expect(func() bool { return !l.TryAcquirePermit() }, errPermitted)
		}},
	})
}

// BenchmarkWaitParallel takes a permit in wait mode, where a call over the
// limit would wait for its turn; the rate is high enough that none waits.
func BenchmarkWaitParallel(b *testing.B) {
	ctx := context.Background()
	sidebyside.Parallel(b, []sidebyside.Impl{
		{Name: "bulwark", Make: func(b *testing.B) func() error {
			l := bulwarkLimiter(b, ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst, MaxWait: time.Second})
			return func() error { return l.Wait(ctx) }
		}},
		{Name: "xtime", Make: func(*testing.B) func() error {
			l := rate.NewLimiter(perSecond, burst)
			return func() error { return l.Wait(ctx) }
		}},
		{Name: "uber", Make: func(*testing.B) func() error {
			l := uberratelimit.New(perSecond, uberratelimit.Per(time.Second))
			return func() error { l.Take(); return nil }
		}},
		{Name: "failsafe", Make: func(*testing.B) func() error {
			l := fsratelimiter.NewBursty[any](perSecond, time.Second)
			return func() error { return l.AcquirePermit(ctx) }
		}},
	})
}

// BenchmarkKeyedAllowParallel checks permitted calls spread over 1,000 keys
// (clients) from GOMAXPROCS goroutines: bulwark's Keyed limiter, bounded to
// 10,000 keys, beside the map of x/time/rate limiters users write by hand,
// which never forgets a key.
func BenchmarkKeyedAllowParallel(b *testing.B) {
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.%d.%d", i/256, i%256)
	}
	for _, tc := range []struct {
		name  string
		allow func(b *testing.B) func(key string) bool
	}{
		{"bulwark", func(b *testing.B) func(string) bool {
			k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
				Config:  ratelimit.Config{Limit: perSecond, Period: time.Second, Burst: burst},
				MaxKeys: 10_000,
			})
			if err != nil {
				b.Fatal(err)
			}
			return func(key string) bool { return k.Allow(key) == nil }
		}},
		{"xtime", func(*testing.B) func(string) bool {
			var m sync.Map
			return func(key string) bool {
				l, ok := m.Load(key)
				if !ok {
					l, _ = m.LoadOrStore(key, rate.NewLimiter(perSecond, burst))
				}
				return l.(*rate.Limiter).Allow()
			}
		}},
	} {
		b.Run("impl="+tc.name, func(b *testing.B) {
			allow := tc.allow(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if !allow(keys[i%len(keys)]) {
						b.Error("limited")
						return
					}
					i += 7
				}
			})
		})
	}
}

// BenchmarkSlidingWindowParallel checks permitted calls against bulwark's
// sliding window, whose two counters sit behind a short mutex, beside its
// token bucket.
func BenchmarkSlidingWindowParallel(b *testing.B) {
	for _, alg := range []ratelimit.Algorithm{ratelimit.SlidingWindow, ratelimit.TokenBucket} {
		b.Run(fmt.Sprintf("impl=bulwark/algorithm=%v", alg), func(b *testing.B) {
			cfg := ratelimit.Config{Algorithm: alg, Limit: perSecond, Period: time.Second}
			if alg == ratelimit.TokenBucket {
				cfg.Burst = burst
			}
			l := bulwarkLimiter(b, cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if l.Allow() != nil {
						b.Error("limited")
						return
					}
				}
			})
		})
	}
}
