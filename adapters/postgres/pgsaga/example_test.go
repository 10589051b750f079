package pgsaga_test

import (
	"context"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgsaga"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/jackc/pgx/v5/pgxpool"
)

type order struct {
	ID     string
	Amount int
}

// An orchestrator on PostgreSQL, run as a service beside the code that
// starts sagas: Run takes over the sagas of instances that died, and Stop
// lets the sagas in flight reach their next transition before the process
// exits. Every instance of the service runs the same code against the same
// table.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	store, err := pgsaga.New(pool, pgsaga.Config{}) // the table "sagas"
	if err != nil {
		panic(err)
	}
	if err := store.Migrate(ctx); err != nil {
		panic(err)
	}

	nop := func(context.Context, *order, saga.Invocation) error { return nil }
	def := saga.Definition[order]{
		Name: "order",
		Steps: []saga.Step[order]{
			{Name: "reserve", Action: nop, Compensate: nop},
			{Name: "charge", Kind: saga.Pivot, Action: nop},
			{Name: "ship", Kind: saga.Retriable, Action: nop},
		},
	}
	orch, err := saga.New(def, store, saga.Config{})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, orch)
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = services.Stop(stop)
	}()

	if err := orch.Execute(ctx, "order-1", order{ID: "order-1", Amount: 42}); err != nil {
		panic(err)
	}
}
