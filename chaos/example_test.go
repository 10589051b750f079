package chaos_test

import (
	"context"
	"fmt"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/chaos"
)

func ExampleInjector() {
	// A fixed seed makes the run reproducible: the same calls fail every time.
	inj, err := chaos.New(chaos.Config{Faults: chaos.Faults{ErrorRate: 0.5}, Seed: 1})
	if err != nil {
		panic(err)
	}
	failed := 0
	for range 1000 {
		if inj.Do(context.Background(), func(context.Context) error { return nil }) != nil {
			failed++
		}
	}
	fmt.Println(failed > 400 && failed < 600)

	inj.Disable() // the outage rehearsal is over
	fmt.Println(inj.Do(context.Background(), func(context.Context) error { return nil }))
	// Output:
	// true
	// <nil>
}

// The Observer hears of every fault before it is injected; the seed makes
// the sequence repeat.
func ExampleInjected() {
	inj, err := chaos.New(chaos.Config{
		Name:   "inventory",
		Faults: chaos.Faults{ErrorRate: 0.3},
		Seed:   7,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			fmt.Println(e.Kind(), e.Component(), e.LogValue())
		}),
	})
	if err != nil {
		panic(err)
	}
	for range 10 {
		_ = inj.Do(context.Background(), func(context.Context) error { return nil })
	}
	// Output:
	// chaos.injected inventory [fault=error call=4]
	// chaos.injected inventory [fault=error call=5]
}
