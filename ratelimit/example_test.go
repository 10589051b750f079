package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/ratelimit"
)

func Example() {
	l, err := ratelimit.New(ratelimit.Config{Limit: 2, Period: time.Second})
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		err := l.Allow()
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			fmt.Printf("call %d: limited (%v), retry within 500ms: %v\n", i, errors.Is(err, ratelimit.ErrLimited), ra.RetryAfter() <= 500*time.Millisecond)
			continue
		}
		fmt.Printf("call %d: permitted\n", i)
	}
	// Output:
	// call 0: permitted
	// call 1: permitted
	// call 2: limited (true), retry within 500ms: true
}

// A Keyed limiter gives each client its own limit, in a bounded amount of
// memory.
func ExampleKeyed() {
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config:  ratelimit.Config{Algorithm: ratelimit.SlidingWindow, Limit: 1, Period: time.Minute},
		MaxKeys: 100_000,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("alice:", k.Allow("alice"))
	fmt.Println("bob:", k.Allow("bob"))
	fmt.Println("alice again:", errors.Is(k.Allow("alice"), ratelimit.ErrLimited))
	// Output:
	// alice: <nil>
	// bob: <nil>
	// alice again: true
}

// In wait mode, Do waits up to MaxWait for a permit instead of rejecting
// the call, which suits a client keeping within a dependency's quota.
func ExampleLimiter_Do() {
	l, err := ratelimit.New(ratelimit.Config{Limit: 100, Period: time.Second, Burst: 1, MaxWait: time.Second})
	if err != nil {
		panic(err)
	}
	start := time.Now()
	for range 3 {
		_ = l.Do(context.Background(), func(context.Context) error { return nil })
	}
	fmt.Println("three calls at 100/s took at least 20ms:", time.Since(start) >= 20*time.Millisecond)
	// Output:
	// three calls at 100/s took at least 20ms: true
}

// An observer sees every rejection, with the key, for metrics or logs;
// bulwark.RetryAfter reads the wait from the error for a Retry-After.
func ExampleRejected() {
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{
		Config: ratelimit.Config{
			Name:   "public-api",
			Limit:  1,
			Period: time.Minute,
			Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				if r, ok := e.(ratelimit.Rejected); ok {
					fmt.Printf("%s limited %s for %v\n", r.Name, r.Key, r.RetryAfter.Round(time.Second))
				}
			}),
		},
	})
	if err != nil {
		panic(err)
	}
	_ = k.Allow("alice")
	err = k.Allow("alice")
	wait, _ := bulwark.RetryAfter(err)
	fmt.Println(errors.Is(err, bulwark.ErrRejected), wait.Round(time.Second))
	// Output:
	// public-api limited alice for 1m0s
	// true 1m0s
}
