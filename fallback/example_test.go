package fallback_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/fallback"
)

func ExampleValue() {
	errUnavailable := errors.New("recommendations unavailable")
	fb, err := fallback.New(fallback.Value([]string{"bestsellers"}),
		fallback.Config{Handle: fallback.ErrorIs(errUnavailable)})
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
	fb, err := fallback.New(fallback.Op(func(_ context.Context, err error) error {
		fmt.Println("queued for later after:", err)
		return nil
	}), fallback.Config{})
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

// In a chain, a Fallback's value reaches bulwark.Call's caller as op's
// would, and its Observer hears of each fallback.
func ExampleFallback_Do() {
	type price struct {
		cents int
		stale bool
	}
	fb, err := fallback.New(fallback.Value(price{cents: 999, stale: true}), fallback.Config{
		Name: "pricing",
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			fmt.Println(e.Kind(), e.Component(), e.LogValue())
		}),
	})
	if err != nil {
		panic(err)
	}
	breaker := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		return op(ctx) // stands for a circuit breaker, a retrier, a timeout…
	})
	p, err := bulwark.Call(context.Background(), bulwark.Chain(fb, breaker), func(context.Context) (price, error) {
		return price{}, errors.New("pricing: 503")
	})
	fmt.Printf("%+v %v\n", p, err)
	// Output:
	// fallback.fell_back pricing [error=pricing: 503]
	// {cents:999 stale:true} <nil>
}
