package circuitbreaker_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

var errUnavailable = errors.New("inventory unavailable")

func Example() {
	cfg := circuitbreaker.DefaultConfig()
	cfg.Name = "inventory"
	cfg.ConsecutiveFailures = 3
	cfg.OpenWaitJitter = circuitbreaker.NoJitter // exact output
	breaker, err := circuitbreaker.New(cfg)
	if err != nil {
		panic(err)
	}
	reserve := func(ctx context.Context) error { return errUnavailable }

	for i := 1; i <= 4; i++ {
		err := breaker.Do(context.Background(), reserve)
		var open *circuitbreaker.OpenError
		switch {
		case errors.As(err, &open):
			fmt.Printf("call %d: rejected without calling, retry in about %v\n", i, open.RetryAfter().Round(time.Second))
		case err != nil:
			fmt.Printf("call %d: %v\n", i, err)
		}
	}
	// Output:
	// call 1: inventory unavailable
	// call 2: inventory unavailable
	// call 3: inventory unavailable
	// call 4: rejected without calling, retry in about 10s
}

// The whole cycle, on a fake clock: trip, wait, probe, close.
func Example_states() {
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	breaker, _ := circuitbreaker.New(circuitbreaker.Config{
		Window:               circuitbreaker.LastCalls(10),
		FailureRateThreshold: 50,
		MinimumCalls:         4,
		OpenWait:             30 * time.Second,
		HalfOpenCalls:        2,
		HalfOpenSuccesses:    2,
		Clock:                clk,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			c, ok := e.(circuitbreaker.StateChange)
			switch {
			case !ok:
			case c.To == circuitbreaker.StateOpen:
				fmt.Printf("%v -> %v: %.0f%% of %d calls failed\n", c.From, c.To, c.Metrics.FailureRate, c.Metrics.Calls)
			default:
				fmt.Printf("%v -> %v\n", c.From, c.To)
			}
		}),
	})
	healthy := true
	call := func(context.Context) error {
		if healthy {
			return nil
		}
		return errUnavailable
	}
	ctx := context.Background()

	_ = breaker.Do(ctx, call)
	healthy = false
	for range 3 {
		_ = breaker.Do(ctx, call)
	}
	fmt.Println("rejected:", errors.Is(breaker.Do(ctx, call), circuitbreaker.ErrOpen))

	clk.Advance(30 * time.Second)
	healthy = true
	for range 2 {
		_ = breaker.Do(ctx, call)
	}
	fmt.Println("state:", breaker.State())
	// Output:
	// closed -> open: 75% of 4 calls failed
	// rejected: true
	// open -> half-open
	// half-open -> closed
	// state: closed
}

// Allow suits calls that cannot be wrapped in a function, such as a stream
// consumed by someone else.
func ExampleBreaker_Allow() {
	breaker, _ := circuitbreaker.New(circuitbreaker.DefaultConfig())
	ctx := context.Background()

	permit, err := breaker.Allow(ctx)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	// ... start the call; when it ends:
	permit.Done(nil)
	fmt.Println(breaker.Metrics().Calls, "call recorded")
	// Output:
	// 1 call recorded
}

// One breaker per host: a failing host is cut off, the others keep serving.
func ExampleKeyed() {
	cfg := circuitbreaker.DefaultKeyedConfig[string]()
	cfg.Breaker.ConsecutiveFailures = 2
	cfg.MaxOpenPercent = 50 // never cut off more than half the hosts
	hosts, _ := circuitbreaker.NewKeyed(cfg)
	ctx := context.Background()

	fetch := func(host string) func(context.Context) error {
		return func(context.Context) error {
			if host == "10.0.0.2" {
				return errUnavailable
			}
			return nil
		}
	}
	for range 3 {
		for _, host := range []string{"10.0.0.1", "10.0.0.2"} {
			if err := hosts.Do(ctx, host, fetch(host)); errors.Is(err, circuitbreaker.ErrOpen) {
				fmt.Println(host, "skipped: breaker open")
			}
		}
	}
	fmt.Printf("%+v\n", hosts.Metrics())
	// Output:
	// 10.0.0.2 skipped: breaker open
	// {Keys:2 Open:1 SuppressedTrips:0 Evictions:0}
}

// DryRun reports what the breaker would reject without rejecting anything.
func ExampleConfig_dryRun() {
	cfg := circuitbreaker.DefaultConfig()
	cfg.DryRun = true
	cfg.ConsecutiveFailures = 1
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if r, ok := e.(circuitbreaker.Rejected); ok && r.DryRun {
			fmt.Println("would reject:", r.Err.State)
		}
	})
	breaker, _ := circuitbreaker.New(cfg)

	_ = breaker.Do(context.Background(), func(context.Context) error { return errUnavailable })
	err := breaker.Do(context.Background(), func(context.Context) error { return nil })
	fmt.Println("ran anyway, err =", err)
	// Output:
	// would reject: open
	// ran anyway, err = <nil>
}
