package saga_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulwark-go/bulwark/saga"
)

// Trip is the data of the example saga: each step records what it booked,
// and the later steps and compensations read it.
type Trip struct {
	Customer string
	Budget   int
	Hotel    string
	Flight   string
}

func Example() {
	book := func(what string, cost int, into func(*Trip) *string) saga.StepFunc[Trip] {
		return func(ctx context.Context, t *Trip, inv saga.Invocation) error {
			// A real step calls a service, passing inv.Key() so that a
			// repeated call (after a crash, say) books nothing twice.
			if t.Budget < cost {
				return fmt.Errorf("%s costs %d, budget left %d", what, cost, t.Budget)
			}
			t.Budget -= cost
			*into(t) = what + " for " + t.Customer
			fmt.Println("booked", *into(t), "key", inv.Key())
			return nil
		}
	}
	cancel := func(into func(*Trip) *string) saga.StepFunc[Trip] {
		return func(ctx context.Context, t *Trip, inv saga.Invocation) error {
			// Also called when the booking failed: nothing to cancel then.
			if *into(t) != "" {
				fmt.Println("cancelled", *into(t))
			}
			return nil
		}
	}
	hotel := func(t *Trip) *string { return &t.Hotel }
	flight := func(t *Trip) *string { return &t.Flight }

	def := saga.Definition[Trip]{
		Name: "trip",
		Steps: []saga.Step[Trip]{
			{Name: "hotel", Action: book("hotel", 300, hotel), Compensate: cancel(hotel)},
			{Name: "flight", Action: book("flight", 500, flight), Compensate: cancel(flight)},
			{Name: "confirm", Kind: saga.Pivot, Action: func(context.Context, *Trip, saga.Invocation) error {
				fmt.Println("confirmed")
				return nil
			}},
		},
	}
	cfg := saga.DefaultConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	orch, err := saga.New(def, saga.NewMemoryStore(), cfg)
	if err != nil {
		panic(err)
	}
	defer orch.Close(context.Background())

	ctx := context.Background()
	err = orch.Execute(ctx, "trip-1", Trip{Customer: "ada", Budget: 1000})
	fmt.Println("trip-1:", err)

	err = orch.Execute(ctx, "trip-2", Trip{Customer: "bob", Budget: 600})
	fmt.Println("trip-2 compensated:", errors.Is(err, saga.ErrCompensated))
	fmt.Println(err)
	// Output:
	// booked hotel for ada key trip-1/hotel
	// booked flight for ada key trip-1/flight
	// confirmed
	// trip-1: <nil>
	// booked hotel for bob key trip-2/hotel
	// cancelled hotel for bob
	// trip-2 compensated: true
	// saga trip-2: compensated: step "flight": flight costs 500, budget left 300
}

// An operator's view: sagas whose compensation failed past its limit wait
// in NeedsAttention until someone resumes or abandons them.
func ExampleOrchestrator_List() {
	refundWorks := false
	def := saga.Definition[Trip]{
		Name: "trip",
		Steps: []saga.Step[Trip]{
			{Name: "charge", Action: func(context.Context, *Trip, saga.Invocation) error { return nil },
				Compensate: func(context.Context, *Trip, saga.Invocation) error {
					if !refundWorks {
						return errors.New("payment provider down")
					}
					return nil
				}},
			{Name: "book", Action: func(context.Context, *Trip, saga.Invocation) error { return errors.New("sold out") }},
		},
	}
	cfg := saga.DefaultConfig()
	cfg.CompensationAttempts = 1
	cfg.Logger = slog.New(slog.DiscardHandler)
	orch, err := saga.New(def, saga.NewMemoryStore(), cfg)
	if err != nil {
		panic(err)
	}
	defer orch.Close(context.Background())
	ctx := context.Background()
	_ = orch.Execute(ctx, "trip-3", Trip{})

	stuck, _ := orch.List(ctx, saga.ListQuery{Status: saga.NeedsAttention})
	for _, s := range stuck {
		fmt.Printf("%s stuck at %s: %s\n", s.ID, s.Step, s.Error)
	}
	refundWorks = true
	err = orch.Resume(ctx, "trip-3")
	fmt.Println("after resume, compensated:", errors.Is(err, saga.ErrCompensated))
	// Output:
	// trip-3 stuck at charge: step "book": sold out; then compensation of step "charge" failed 1 time(s): payment provider down
	// after resume, compensated: true
}
