package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// A type that waits takes a clock.Clock (nil meaning the real one) and
// waits with Sleep, so a test can drive it with a clocktest.Fake.
func ExampleSleep() {
	c := clock.OrSystem(nil) // clock.System
	start := c.Now()
	err := clock.Sleep(context.Background(), c, 10*time.Millisecond)
	fmt.Println(err, c.Now().Sub(start) >= 10*time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(clock.Sleep(ctx, c, time.Hour)) // a done context ends the wait at once
	// Output:
	// <nil> true
	// context canceled
}
