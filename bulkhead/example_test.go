package bulkhead_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
)

func Example() {
	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	err = b.Do(ctx, func(ctx context.Context) error {
		// While this call holds the only permit, another is turned away at
		// once instead of piling up behind it.
		err := b.Do(ctx, func(context.Context) error { return nil })
		fmt.Println("second call:", err, errors.Is(err, bulkhead.ErrFull))
		return nil
	})
	fmt.Println("first call:", err)
	// Output:
	// second call: bulkhead: full true
	// first call: <nil>
}

// An adaptive bulkhead is configured like a fixed one, with MaxConcurrent as
// the ceiling its limit never passes.
func Example_adaptive() {
	b, err := bulkhead.New(bulkhead.Config{
		MaxConcurrent: 200,
		MaxWaiting:    50,
		MaxWait:       20 * time.Millisecond,
		Adaptive:      bulkhead.DefaultGradient(),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("starting limit:", b.Limit())
	// Output:
	// starting limit: 10
}

func ExampleKeyed() {
	k, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{
		Config:      bulkhead.Config{MaxConcurrent: 1},
		MaxIdleKeys: 1000,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = k.Do(ctx, "tenant-a", func(ctx context.Context) error {
		fmt.Println("tenant-a again:", k.Do(ctx, "tenant-a", func(context.Context) error { return nil }))
		fmt.Println("tenant-b:", k.Do(ctx, "tenant-b", func(context.Context) error { return nil }))
		return nil
	})
	// Output:
	// tenant-a again: bulkhead: full
	// tenant-b: <nil>
}

// The observer sees every rejection: here bulwark.LogEvents writes them to
// a logger (timestamps left out for the example's output).
func ExampleConfig_observer() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	b, err := bulkhead.New(bulkhead.Config{
		Name:          "inventory",
		MaxConcurrent: 1,
		Observer:      bulwark.LogEvents(logger, slog.LevelWarn),
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = b.Do(ctx, func(ctx context.Context) error {
		err := b.Do(ctx, func(context.Context) error { return nil })
		fmt.Println(errors.Is(err, bulwark.ErrRejected))
		return nil
	})
	// Output:
	// level=WARN msg=bulkhead.rejected component=inventory event.limit=1 event.waited=false
	// true
}
