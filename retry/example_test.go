package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/retry"
)

func ExampleRetrier_Do() {
	r, err := retry.New(retry.Config{
		MaxAttempts: 4,
		Backoff:     retry.Exponential{Initial: time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:    10 * time.Millisecond,
		OnRetry: func(attempt int, err error, _ time.Duration) {
			fmt.Printf("attempt %d failed: %v\n", attempt, err)
		},
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
	// attempt 1 failed: connection refused
	// attempt 2 failed: connection refused
	// result: <nil>
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
	// retries may add 10% to the load, plus 10 per second.
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 10, Window: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	cfg := retry.DefaultConfig()
	cfg.Budget = budget
	inventory, err := retry.New(cfg)
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
