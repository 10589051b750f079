package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/timeout"
)

func ExampleTimeout_Do() {
	tm, err := timeout.New(timeout.Config{Timeout: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	err = tm.Do(context.Background(), func(ctx context.Context) error {
		select {
		case <-time.After(time.Second): // a slow dependency
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	fmt.Println(errors.Is(err, timeout.ErrTimeout), errors.Is(err, context.DeadlineExceeded))
	fmt.Println(err)
	// Output:
	// true true
	// timeout: call exceeded 10ms: context deadline exceeded
}
