package eventsource_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
)

// A bank account kept as events: open, deposit, withdraw. Handle loads the
// account, decides, and saves the decision, retrying on conflicts.
func Example() {
	ctx := context.Background()
	type (
		Opened    struct{ Owner string }
		Deposited struct{ Amount int }
		Withdrawn struct{ Amount int }
		Account   struct {
			Owner   string
			Balance int
		}
	)
	reg := eventsource.NewRegistry(nil)
	_ = eventsource.Register[Opened](reg, "account.opened", 1)
	_ = eventsource.Register[Deposited](reg, "account.deposited", 1)
	_ = eventsource.Register[Withdrawn](reg, "account.withdrawn", 1)

	store := eventsource.NewMemoryStore()
	evolve := func(a Account, e any) Account {
		switch e := e.(type) {
		case Opened:
			a.Owner = e.Owner
		case Deposited:
			a.Balance += e.Amount
		case Withdrawn:
			a.Balance -= e.Amount
		}
		return a
	}
	accounts, err := eventsource.NewRepository(store, reg, evolve, eventsource.RepositoryConfig[Account]{StreamPrefix: "account-"})
	if err != nil {
		panic(err)
	}

	_, _ = accounts.Handle(ctx, "42", func(Account) ([]any, error) {
		return []any{Opened{Owner: "ada"}, Deposited{Amount: 100}}, nil
	})
	withdraw := func(n int) func(Account) ([]any, error) {
		return func(a Account) ([]any, error) {
			if a.Balance < n {
				return nil, errors.New("insufficient funds")
			}
			return []any{Withdrawn{Amount: n}}, nil
		}
	}
	acc, _ := accounts.Handle(ctx, "42", withdraw(30))
	fmt.Println(acc.State.Owner, acc.State.Balance, "at version", acc.Version)
	_, err = accounts.Handle(ctx, "42", withdraw(500))
	fmt.Println(err)

	for e, err := range store.ReadStream(ctx, "account-42", 1) {
		if err != nil {
			panic(err)
		}
		fmt.Println(e.StreamVersion, e.Type, string(e.Data))
	}
	// Output:
	// ada 70 at version 3
	// insufficient funds
	// 1 account.opened {"Owner":"ada"}
	// 2 account.deposited {"Amount":100}
	// 3 account.withdrawn {"Amount":30}
}

// A subscription delivers the global log after the subscriber's checkpoint,
// then follows new events; Close lets the event in flight finish.
func ExampleSubscription() {
	ctx := context.Background()
	store := eventsource.NewMemoryStore()
	for _, stream := range []string{"a", "b", "a"} {
		if _, err := store.Append(ctx, stream, eventsource.Any, eventsource.EventData{ID: uuid.New(), Type: "noted", SchemaVersion: 1}); err != nil {
			panic(err)
		}
	}
	caughtUp := make(chan int64, 1)
	sub, err := eventsource.NewSubscription(store, func(_ context.Context, e eventsource.Event) error {
		fmt.Println("position", e.GlobalPosition, "stream", e.StreamID, "version", e.StreamVersion)
		return nil
	}, eventsource.SubscriptionConfig{
		Checkpoint: 1, // the subscriber had handled position 1 before
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(eventsource.CaughtUp); ok {
				caughtUp <- c.Position
			}
		}),
	})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, sub)
	fmt.Println("caught up at", <-caughtUp)
	if err := services.Stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// position 2 stream b version 1
	// position 3 stream a version 2
	// caught up at 3
}
