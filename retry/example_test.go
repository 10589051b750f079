package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/retry"
)

func ExampleRetrier_Do() {
	r, err := retry.New(retry.Config{
		Name:        "inventory",
		MaxAttempts: 4,
		Backoff:     retry.Exponential{Initial: time.Millisecond},
		MaxDelay:    10 * time.Millisecond,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if r, ok := e.(retry.Retried); ok {
				fmt.Printf("%s: attempt %d failed: %v\n", r.Name, r.Attempt, r.Err)
			}
		}),
	})
	if err != nil {
		panic(err)
	}
	calls := 0
	err = r.Do(context.Background(), func(ctx context.Context) error {
		if calls++; calls < 3 {
			return errors.New("connection refused")
		}
		return nil
	})
	fmt.Println("result:", err)
	// Output:
	// inventory: attempt 1 failed: connection refused
	// inventory: attempt 2 failed: connection refused
	// result: <nil>
}

// A policy's refusal — here an open circuit breaker's — ends the retries at
// once: the breaker already said the dependency is down, and the operation
// did not even run.
func ExampleRetrier_Do_rejection() {
	r, err := retry.New(retry.Config{}) // the defaults: three attempts
	if err != nil {
		panic(err)
	}
	calls := 0
	start := time.Now()
	err = r.Do(context.Background(), func(context.Context) error {
		calls++
		return breakerOpen{} // what bulwark.Chain(r, breaker) sees from an open breaker
	})
	fmt.Println(calls, time.Since(start) < 100*time.Millisecond)
	fmt.Println(errors.Is(err, bulwark.ErrRejected), errors.Is(err, retry.ErrRejected))
	fmt.Println(err)
	// Output:
	// 1 true
	// true true
	// retry: gave up after 1 attempt (rejected by a policy): circuit open
}

// breakerOpen stands for circuitbreaker's open error: a refusal matching
// bulwark.ErrRejected.
type breakerOpen struct{}

func (breakerOpen) Error() string        { return "circuit open" }
func (breakerOpen) Is(target error) bool { return target == bulwark.ErrRejected }

func ExampleDefaultConfig() {
	cfg := retry.DefaultConfig()
	fmt.Println(cfg.MaxAttempts, cfg.MaxDelay, cfg.Backoff)
	// Output: 3 30s {100ms 2 FullJitter}
}

func ExampleError() {
	r, _ := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}})
	err := r.Do(context.Background(), func(context.Context) error {
		return errors.New("service unavailable")
	})
	var e *retry.Error
	if errors.As(err, &e) {
		fmt.Println(e.Attempts, errors.Is(err, retry.ErrMaxAttempts))
	}
	fmt.Println(err)
	// Output:
	// 2 true
	// retry: gave up after 2 attempts (max attempts reached): service unavailable
}

func ExampleHandler() {
	r, _ := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Millisecond}})
	var dead retry.MemorySink[string]
	handle := retry.Handler(r, &dead, func(ctx context.Context, msg string) error {
		if msg == "{not json" {
			return retry.Permanent(errors.New("malformed message"))
		}
		return nil
	})
	for _, msg := range []string{`{"order":1}`, "{not json"} {
		fmt.Printf("%s handled: %v\n", msg, handle(context.Background(), msg) == nil)
	}
	for _, letter := range dead.Letters() {
		fmt.Printf("dead letter %s after %d attempt(s): %v\n", letter.Item, len(letter.Attempts), letter.Err)
	}
	// Output:
	// {"order":1} handled: true
	// {not json handled: true
	// dead letter {not json after 1 attempt(s): retry: gave up after 1 attempt (error is not retryable): malformed message
}

func ExampleNewBudget() {
	// One budget per downstream, shared by every Retrier that calls it:
	// retries may add 10% to the load, plus 10 per second (the defaults).
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 10, Window: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	inventory, err := retry.New(retry.Config{Budget: budget})
	if err != nil {
		panic(err)
	}
	err = inventory.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	// Output: <nil>
}

func ExampleParseRetryAfter() {
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, v := range []string{"120", "Wed, 21 Oct 2015 07:29:00 GMT", "soon"} {
		d, ok := retry.ParseRetryAfter(v, now)
		fmt.Println(d, ok)
	}
	// Output:
	// 2m0s true
	// 1m0s true
	// 0s false
}
