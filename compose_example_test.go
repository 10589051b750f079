package bulwark_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/timeout"
)

// Example_composition guards calls to an inventory service: each attempt
// gets 2 s, at most 20 run at once, a breaker stops calling a service that
// keeps failing, and a failed attempt is retried up to three times in all.
// The README shows this example.
func Example_composition() {
	rc := retry.DefaultConfig()
	rc.Backoff = retry.Exponential{Initial: 10 * time.Millisecond, Jitter: retry.FullJitter}
	retrier, err := retry.New(rc)
	if err != nil {
		panic(err)
	}
	bc := circuitbreaker.DefaultConfig()
	bc.Name = "inventory"
	breaker, err := circuitbreaker.New(bc)
	if err != nil {
		panic(err)
	}
	limiter, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 20})
	if err != nil {
		panic(err)
	}
	deadline, err := timeout.New(timeout.Config{Timeout: 2 * time.Second})
	if err != nil {
		panic(err)
	}
	inventory := bulwark.Chain(retrier, breaker, limiter, deadline) // retry outermost

	calls := 0
	stock, err := bulwark.Call(context.Background(), inventory, func(ctx context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 0, errors.New("inventory: connection reset")
		}
		return 42, nil
	})
	fmt.Println(stock, err, "after", calls, "calls")
	// Output: 42 <nil> after 3 calls
}
