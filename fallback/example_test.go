package fallback_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark/fallback"
)

func ExampleValue() {
	errUnavailable := errors.New("recommendations unavailable")
	fb, err := fallback.New(fallback.Config{Handle: fallback.ErrorIs(errUnavailable)},
		fallback.Value([]string{"bestsellers"}))
	if err != nil {
		panic(err)
	}
	recs, err := fb.Call(context.Background(), func(context.Context) ([]string, error) {
		return nil, fmt.Errorf("GET /recommendations: %w", errUnavailable)
	})
	fmt.Println(recs, err)
	// Output: [bestsellers] <nil>
}

func ExampleOp() {
	fb, err := fallback.New(fallback.DefaultConfig(), fallback.Op(func(_ context.Context, err error) error {
		fmt.Println("queued for later after:", err)
		return nil
	}))
	if err != nil {
		panic(err)
	}
	err = fb.Do(context.Background(), func(context.Context) error {
		return errors.New("mail server down")
	})
	fmt.Println(err)
	// Output:
	// queued for later after: mail server down
	// <nil>
}
