package circuitbreaker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func success(context.Context) error { return nil }

var errBench = errors.New("bench failure")

func benchBreaker(b *testing.B, mutate func(*Config)) *Breaker {
	b.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	br, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Fill the window so the closed success path is the steady one.
	for range 200 {
		_ = br.Do(context.Background(), success)
	}
	return br
}

// BenchmarkDo measures the closed success path of Do under several
// configurations, serially and in parallel.
func BenchmarkDo(b *testing.B) {
	ctx := context.Background()
	configs := []struct {
		name   string
		mutate func(*Config)
	}{
		{"window=count", nil},
		{"window=count/slowcalls", func(c *Config) { c.SlowCallDuration, c.SlowCallRateThreshold = time.Second, 50 }},
		{"window=time", func(c *Config) { c.Window = LastDuration(10*time.Second, 10) }},
		{"window=count/failures=1pct", nil},
	}
	for _, c := range configs {
		failEvery := 0
		if c.name == "window=count/failures=1pct" {
			failEvery = 100
		}
		b.Run(c.name+"/serial", func(b *testing.B) {
			br := benchBreaker(b, c.mutate)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if failEvery > 0 && i%failEvery == 0 {
					_ = br.Do(ctx, func(context.Context) error { return errBench })
					continue
				}
				_ = br.Do(ctx, success)
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			br := benchBreaker(b, c.mutate)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if failEvery > 0 && i%failEvery == 0 {
						_ = br.Do(ctx, func(context.Context) error { return errBench })
						continue
					}
					_ = br.Do(ctx, success)
				}
			})
		})
	}
}

// BenchmarkRejected measures an open (and a forced-open) breaker's
// rejection path under RunParallel.
func BenchmarkRejected(b *testing.B) {
	for _, forced := range []bool{false, true} {
		name := "state=open"
		if forced {
			name = "state=forced-open"
		}
		b.Run(name, func(b *testing.B) {
			br := benchBreaker(b, func(c *Config) { c.OpenWait, c.MaxOpenWait, c.ConsecutiveFailures = time.Hour, time.Hour, 1 })
			ctx := context.Background()
			_ = br.Do(ctx, func(context.Context) error { return errBench })
			if forced {
				br.ForceOpen()
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = br.Do(ctx, success)
				}
			})
		})
	}
}

// BenchmarkKeyedDo measures Keyed.Do on an existing key.
func BenchmarkKeyedDo(b *testing.B) {
	k, err := NewKeyed(DefaultKeyedConfig[string]())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for range 200 {
		_ = k.Do(ctx, "host-1", success)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = k.Do(ctx, "host-1", success)
		}
	})
}
