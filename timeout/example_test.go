package timeout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
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

// With Detach, Do returns at the deadline even when op ignores its context;
// the Observer hears of every call that ran out of time.
func ExampleConfig_detach() {
	tm, err := timeout.New(timeout.Config{
		Name:    "legacy-client",
		Timeout: 10 * time.Millisecond,
		Detach:  true,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			fmt.Println(e.Kind(), e.Component(), e.LogValue())
		}),
	})
	if err != nil {
		panic(err)
	}
	release := make(chan struct{})
	defer close(release)
	err = tm.Do(context.Background(), func(context.Context) error {
		<-release // a client that takes no context
		return nil
	})
	fmt.Println(err)
	// Output:
	// timeout.timed_out legacy-client [timeout=10ms detached=true]
	// timeout: call exceeded 10ms
}
