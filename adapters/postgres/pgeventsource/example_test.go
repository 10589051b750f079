package pgeventsource_test

import (
	"context"
	"fmt"
	"os"

	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/jackc/pgx/v5/pgxpool"
)

// An event store in PostgreSQL, with a subscription that follows the global
// log from the subscriber's checkpoint (it needs a server: it runs where
// BULWARK_POSTGRES_DSN names one).
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("BULWARK_POSTGRES_DSN"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	store, err := pgeventsource.New(pool, pgeventsource.Config{})
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}
	type Deposited struct{ Amount int }
	reg := eventsource.NewRegistry(nil)
	_ = eventsource.Register[Deposited](reg, "account.deposited", 1)
	data, _ := reg.Encode(Deposited{Amount: 10}, eventsource.Metadata{CorrelationID: "req-1"})
	res, err := store.Append(ctx, "account-42", eventsource.Any, data)
	if err != nil {
		panic(err)
	}

	var checkpoint int64 // kept by the subscriber, with its effects
	sub, err := eventsource.NewSubscription(store, func(ctx context.Context, e eventsource.Event) error {
		fmt.Println(e.GlobalPosition, e.StreamID, e.Type)
		checkpoint = e.GlobalPosition
		return nil
	}, eventsource.SubscriptionConfig{Checkpoint: checkpoint})
	if err != nil {
		panic(err)
	}
	go func() { _ = sub.Run(ctx) }()
	defer sub.Close(ctx)
	_ = res // read models built from the log can wait for res.GlobalPosition
}
