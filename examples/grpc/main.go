// Command grpc shows a gRPC client and server that stay standing while the
// server's dependency is flaky, then down, then back, on loopback TCP.
//
//	go run ./examples/grpc
//
// The server stands in for an inventory service (it is grpc-go's interop
// test service, so the example needs no generated code of its own). Its
// unary calls pass three bulwarkgrpc server interceptors: a RateLimiter
// (per client, by the x-client metadata value), a Shedder over a bulkhead
// of 16 (UNAVAILABLE with a pushback when full) and Idempotency (a call
// repeated with the same idempotency-key gets the first answer back). A
// Health reporter sets the gRPC health service NOT_SERVING while the
// server's breaker on its own dependency is open.
//
// Four client workers call it through bulwarkgrpc's interceptor with the
// chain retry (3 attempts, a budget) → circuit breaker → hedge (a second
// attempt after 40ms). The dependency is flaky at first (a fifth of calls
// fail, some stall), then down, then back; the program prints the phases,
// the breakers' changes of state and what the client saw.
package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

func main() {
	if _, err := run(context.Background(), os.Stdout, defaultTimeline); err != nil {
		fmt.Fprintln(os.Stderr, "grpc example:", err)
		os.Exit(1)
	}
}

// timeline is how long the dependency spends in each phase.
type timeline struct {
	flaky, down, recovered time.Duration
}

var defaultTimeline = timeline{flaky: 2 * time.Second, down: 2 * time.Second, recovered: 2500 * time.Millisecond}
