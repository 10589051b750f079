package chaos_test

import (
	"context"
	"fmt"

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
