package hedge_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/hedge"
)

func ExampleHedger_Do() {
	h, err := hedge.New(hedge.Config{Delay: 20 * time.Millisecond, MaxHedges: 1})
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
	// Output: <nil> 2 true
}
