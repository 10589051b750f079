package clocktest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// A test drives code that waits on a Fake: BlockUntil says when the code has
// started waiting, and Advance moves time by exactly the wait, without
// sleeping.
func ExampleFake() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fc := clocktest.New(start)
	done := make(chan time.Time)
	go func() {
		_ = clock.Sleep(context.Background(), fc, 30*time.Second) // the code under test
		done <- fc.Now()
	}()
	fc.BlockUntil(1) // it is waiting
	fc.Advance(30 * time.Second)
	fmt.Println((<-done).Sub(start), fc.Timers())
	// Output: 30s 0
}
