package cqrs_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
)

// A read model of account balances, built from the accounts' events, and a
// query that waits for its own write before reading it. (In memory here,
// so at least once; with pgcqrs or sqlitecqrs the handler writes through
// the transaction it is given, exactly once.)
func Example() {
	ctx := context.Background()
	type Deposited struct{ Amount int }
	reg := eventsource.NewRegistry(nil)
	_ = eventsource.Register[Deposited](reg, "account.deposited", 1)
	events := eventsource.NewMemoryStore()

	var mu sync.Mutex
	balances := map[string]int{}
	projections := []cqrs.Projection[cqrs.NoTx]{{
		Name:  "balances",
		Types: []string{"account.deposited"},
		Handle: cqrs.Decoded(reg, func(_ context.Context, _ cqrs.NoTx, e eventsource.Event, v any) error {
			mu.Lock()
			defer mu.Unlock()
			balances[e.StreamID] += v.(Deposited).Amount
			return nil
		}),
	}}
	projector, err := cqrs.New(events, cqrs.NewMemoryStore(), projections, cqrs.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	running := bulwark.Start(ctx, projector)

	for _, amount := range []int{10, 32} {
		data, _ := reg.Encode(Deposited{Amount: amount}, eventsource.Metadata{})
		res, err := events.Append(ctx, "account-42", eventsource.Any, data)
		if err != nil {
			panic(err)
		}
		if _, err := projector.WaitFor(ctx, "balances", res.GlobalPosition); err != nil {
			panic(err)
		}
		mu.Lock()
		fmt.Println("balance after the deposit of", amount, "is", balances["account-42"])
		mu.Unlock()
	}
	if err := running.Stop(ctx); err != nil { // lets a batch in flight commit
		panic(err)
	}
	// Output:
	// balance after the deposit of 10 is 10
	// balance after the deposit of 32 is 42
}
