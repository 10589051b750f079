package saga_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulwark-go/bulwark"
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

// tripDefinition books a hotel and a flight within the trip's budget, then
// confirms the trip (the pivot). Each step prints what it does.
func tripDefinition() saga.Definition[Trip] {
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
	return saga.Definition[Trip]{
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
}

// quiet keeps the examples' output to what they print themselves.
var quiet = slog.New(slog.DiscardHandler)

func Example() {
	orch, err := saga.New(tripDefinition(), saga.NewMemoryStore(), saga.Config{Logger: quiet})
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
	orch, err := saga.New(def, saga.NewMemoryStore(), saga.Config{CompensationAttempts: 1, Logger: quiet})
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

// Run takes over the sagas that instances which died left unfinished, as
// a bulwark.Service: bulwark.Start runs it, Stop closes it. Here the store
// holds a trip whose orchestrator died after booking the hotel; the events
// the orchestrator reports show the takeover.
func ExampleOrchestrator_Run() {
	ctx := context.Background()
	store := saga.NewMemoryStore()
	_ = store.Create(ctx, saga.Record{
		ID: "trip-9", Name: "trip", Status: saga.Running, Step: 1, Version: 1,
		Data: []byte(`{"Customer":"cy","Budget":700,"Hotel":"hotel for cy"}`),
	})

	finished := make(chan struct{})
	observer := bulwark.ObserverFunc(func(ctx context.Context, ev bulwark.Event) {
		switch ev := ev.(type) {
		case saga.TakenOver:
			fmt.Printf("%s: took over %s at step %s\n", ev.Component(), ev.SagaID, ev.Step)
		case saga.Finished:
			fmt.Printf("%s: %s %s\n", ev.Component(), ev.SagaID, ev.Status)
			close(finished)
		}
	})
	orch, err := saga.New(tripDefinition(), store, saga.Config{Name: "trips", Observer: observer, Logger: quiet})
	if err != nil {
		panic(err)
	}
	g := bulwark.Start(ctx, orch)
	<-finished
	fmt.Println("stopped:", g.Stop(ctx))
	// Output:
	// trips: took over trip-9 at step flight
	// booked flight for cy key trip-9/flight
	// confirmed
	// trips: trip-9 completed
	// stopped: <nil>
}
