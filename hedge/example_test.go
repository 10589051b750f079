package hedge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/hedge"
)

func ExampleHedger_Do() {
	h, err := hedge.New(hedge.Config{
		Name:       "profiles",
		Delay:      20 * time.Millisecond,
		Percentile: hedge.NoPercentile, // always hedge after 20ms
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			fmt.Println(e.Kind(), e.LogValue())
		}),
	})
	if err != nil {
		panic(err)
	}
	replicas := []time.Duration{time.Second, time.Millisecond} // the first replica is stuck
	var attempts atomic.Int32
	start := time.Now()
	err = h.Do(hedge.Idempotent(context.Background()), func(ctx context.Context) error {
		replica := replicas[attempts.Add(1)-1]
		select {
		case <-time.After(replica):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Println(err, attempts.Load(), time.Since(start) < time.Second)
	// Output:
	// hedge.hedged [attempt=2 delay=20ms]
	// <nil> 2 true
}

// A panic in any attempt — here in the hedge, on a goroutine of its own —
// reaches the caller, after every attempt has ended.
func ExampleHedger_Do_panic() {
	h, err := hedge.New(hedge.Config{Delay: time.Millisecond, AllIdempotent: true})
	if err != nil {
		panic(err)
	}
	defer func() { fmt.Println("recovered:", recover()) }()
	var attempts atomic.Int32
	_ = h.Do(context.Background(), func(ctx context.Context) error {
		if attempts.Add(1) == 2 {
			panic("replica returned garbage")
		}
		<-ctx.Done() // the first attempt is stopped when the hedge panics
		return ctx.Err()
	})
	// Output: recovered: replica returned garbage
}
