// release-check: run

// Command core guards a flaky call with the core module alone: a retrier
// outside a circuit breaker and a bulkhead.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/retry"
)

func main() {
	retrier, err := retry.New(retry.Config{Backoff: retry.Exponential{Initial: time.Millisecond}})
	if err != nil {
		log.Fatal(err)
	}
	breaker, err := circuitbreaker.New(circuitbreaker.Config{Name: "inventory"})
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 10})
	if err != nil {
		log.Fatal(err)
	}
	policy := bulwark.Chain(retrier, breaker, limiter)

	calls := 0
	stock, err := bulwark.Call(context.Background(), policy, func(context.Context) (int, error) {
		if calls++; calls < 3 {
			return 0, errors.New("connection reset")
		}
		return 42, nil
	})
	if err != nil || stock != 42 {
		log.Fatalf("got %d, %v", stock, err)
	}
	fmt.Printf("stock %d after %d calls\n", stock, calls)
}
