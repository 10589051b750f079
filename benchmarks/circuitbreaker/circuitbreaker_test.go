// Package circuitbreaker measures bulwark's circuit breaker beside sony/gobreaker,
// failsafe-go, eapache/go-resiliency and afex/hystrix-go, and replays two
// failsafe-go 0.9.8 bugs that bulwark's breaker is built to avoid.
package circuitbreaker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"github.com/eapache/go-resiliency/breaker"
	"github.com/failsafe-go/failsafe-go"
	fscb "github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/sony/gobreaker/v2"

	"github.com/bulwark-go/bulwark/circuitbreaker"
)

var errDown = errors.New("dependency down")

func success() error { return nil }

func successCtx(context.Context) error { return nil }

// impl is one library's breaker behind a common shape: call runs one call
// through it; trip opens it for an hour.
type impl struct {
	name string
	make func(b *testing.B) (call func() error, trip func())
}

// The peers are configured as they would be for a production dependency:
// default settings where the defaults make sense, a long open wait so that a
// tripped breaker stays open for the whole measurement.
var impls = []impl{
	{"bulwark", func(b *testing.B) (func() error, func()) {
		cfg := circuitbreaker.DefaultConfig()
		cfg.ConsecutiveFailures = 5
		cfg.OpenWait, cfg.MaxOpenWait = time.Hour, time.Hour
		cb, err := circuitbreaker.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		return func() error { return cb.Do(ctx, successCtx) },
			func() {
				tripWith(b, func() error { return cb.Do(ctx, func(context.Context) error { return errDown }) })
			}
	}},
	{"gobreaker", func(b *testing.B) (func() error, func()) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench", Timeout: time.Hour})
		run := func(op func() error) error {
			_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, op() })
			return err
		}
		return func() error { return run(success) },
			func() { tripWith(b, func() error { return run(func() error { return errDown }) }) }
	}},
	// failsafe-go's breaker used directly, as a caller would without its
	// executor: acquire a permit, call, record the error.
	{"failsafe-go", func(b *testing.B) (func() error, func()) {
		cb := fscb.NewBuilder[any]().WithFailureThreshold(5).WithDelay(time.Hour).Build()
		run := func(op func() error) error {
			if !cb.TryAcquirePermit() {
				return fscb.ErrOpen
			}
			err := op()
			cb.RecordError(err)
			return err
		}
		return func() error { return run(success) },
			func() { tripWith(b, func() error { return run(func() error { return errDown }) }) }
	}},
	{"failsafe-go-executor", func(b *testing.B) (func() error, func()) {
		cb := fscb.NewBuilder[any]().WithFailureThreshold(5).WithDelay(time.Hour).Build()
		exec := failsafe.With[any](cb)
		return func() error { return exec.Run(success) },
			func() { tripWith(b, func() error { return exec.Run(func() error { return errDown }) }) }
	}},
	{"go-resiliency", func(b *testing.B) (func() error, func()) {
		cb := breaker.New(5, 1, time.Hour)
		return func() error { return cb.Run(success) },
			func() { tripWith(b, func() error { return cb.Run(func() error { return errDown }) }) }
	}},
	{"hystrix-go", func(b *testing.B) (func() error, func()) {
		name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
		hystrix.ConfigureCommand(name, hystrix.CommandConfig{
			Timeout:                int(time.Minute / time.Millisecond),
			MaxConcurrentRequests:  100000, // never the limit here: this measures the breaker
			RequestVolumeThreshold: 5,
			SleepWindow:            int(time.Hour / time.Millisecond),
			ErrorPercentThreshold:  50,
		})
		run := func(op func() error) error { return hystrix.Do(name, op, nil) }
		return func() error { return run(success) },
			func() { tripWith(b, func() error { return run(func() error { return errDown }) }) }
	}},
}

// tripWith calls a failing op until the breaker rejects. hystrix-go
// collects its metrics asynchronously, so this may take a few rounds.
func tripWith(b *testing.B, fail func() error) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := fail(); err != nil && !errors.Is(err, errDown) {
			return // rejected by the breaker
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatal("the breaker did not open")
}

// warm fills each breaker's window with successes first, so the path
// measured is the steady closed one.
func warm(call func() error) {
	for range 1000 {
		_ = call()
	}
}

// BenchmarkClosedSuccess is one goroutine calling through a closed breaker
// a function that succeeds.
func BenchmarkClosedSuccess(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call, _ := im.make(b)
			warm(call)
			b.ReportAllocs()
			for b.Loop() {
				_ = call()
			}
		})
	}
}

// BenchmarkClosedSuccessParallel is the same under b.RunParallel, with
// parallelism × GOMAXPROCS goroutines sharing one breaker.
func BenchmarkClosedSuccessParallel(b *testing.B) {
	for _, im := range impls {
		for _, p := range []int{1, 8} {
			b.Run(fmt.Sprintf("impl=%s/parallelism=%d", im.name, p), func(b *testing.B) {
				call, _ := im.make(b)
				warm(call)
				b.ReportAllocs()
				b.SetParallelism(p)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						_ = call()
					}
				})
			})
		}
	}
}

// BenchmarkOpenRejectParallel is callers hitting an open breaker: the cost
// of failing fast.
func BenchmarkOpenRejectParallel(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) {
			call, trip := im.make(b)
			trip()
			if call() == nil {
				b.Fatal("the tripped breaker let a call through")
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = call()
				}
			})
		})
	}
}
