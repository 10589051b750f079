package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
)

// Order is the saga's data. The steps fill in what the services answer,
// and the log keeps it, so a compensation (or an orchestrator that takes
// over after a crash) knows what to undo.
type Order struct {
	ID          string `json:"id"`
	SKU         string `json:"sku"`
	Qty         int    `json:"qty"`
	Cents       int    `json:"cents"`
	Card        string `json:"card"`
	Reservation string `json:"reservation,omitempty"`
	Charge      string `json:"charge,omitempty"`
	Tracking    string `json:"tracking,omitempty"`
}

// crashAfterCharge, set in the orchestrator child of -crash, kills the
// process once the payment went through and before the saga's log records
// it: the worst moment, as the payment has taken effect.
var crashAfterCharge bool

// definition is the order saga: create the order, reserve the stock,
// charge the card (the pivot: once paid, the order goes through), ship
// (retried until it works).
func definition(svc services, out io.Writer) saga.Definition[Order] {
	retrier, err := retry.New(retry.Config{
		MaxAttempts: 3,
		Backoff:     retry.Exponential{Initial: 50 * time.Millisecond, Jitter: retry.FullJitter},
		RetryIf:     func(err error) bool { return err != errDeclined },
	})
	if err != nil {
		panic(err)
	}
	say := func(inv saga.Invocation, format string, args ...any) {
		fmt.Fprintf(out, "  %-18s %s\n", inv.Step, fmt.Sprintf(format, args...))
	}
	return saga.Definition[Order]{
		Name: "order",
		Steps: []saga.Step[Order]{
			{
				Name: "create-order",
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					say(inv, "order %s pending", o.ID)
					return svc.createOrder(ctx, o.ID)
				},
				Compensate: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					say(inv, "compensated: order %s cancelled", o.ID)
					return svc.cancelOrder(ctx, o.ID)
				},
			},
			{
				Name: "reserve-inventory", Policy: retrier, Timeout: 5 * time.Second,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					r, err := svc.reserve(ctx, inv.Key(), o.SKU, o.Qty)
					if err != nil {
						return err
					}
					o.Reservation = r
					say(inv, "reserved %d %s (%s)", o.Qty, o.SKU, r)
					return nil
				},
				Compensate: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					// The reservation was made under the action's key.
					released, err := svc.release(ctx, saga.Invocation{SagaID: inv.SagaID, Step: inv.Step}.Key())
					if err == nil {
						say(inv, "compensated: reservation released (%v), %s %s in stock", released, svc.available(ctx, o.SKU), o.SKU)
					}
					return err
				},
			},
			{
				Name: "charge-payment", Kind: saga.Pivot, Policy: retrier, Timeout: 5 * time.Second,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					c, charged, err := svc.charge(ctx, inv.Key(), o.ID, o.Card, o.Cents)
					if err != nil {
						say(inv, "failed: %v", err)
						return err
					}
					o.Charge = c
					if charged {
						say(inv, "charged %s to card %s (%s)", money(o.Cents), o.Card, c)
					} else {
						say(inv, "the payment service already had key %s: same charge %s, not charged again", inv.Key(), c)
					}
					if crashAfterCharge {
						fmt.Fprintf(out, "  *** orchestrator process %d killed with SIGKILL before the payment step is logged ***\n", os.Getpid())
						p, _ := os.FindProcess(os.Getpid())
						_ = p.Kill()
						select {}
					}
					return nil
				},
			},
			{
				Name: "ship", Kind: saga.Retriable, Policy: retrier, Timeout: 5 * time.Second,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					t, err := svc.ship(ctx, inv.Key(), o.ID)
					if err != nil {
						return err
					}
					o.Tracking = t
					say(inv, "shipped (%s)", t)
					return nil
				},
			},
		},
	}
}

// orchestrator returns an orchestrator on the example's database. Its
// short lease lets a new process take over a dead one's sagas after two
// seconds.
func orchestrator(svc services, out io.Writer) (*saga.Orchestrator[Order], error) {
	store, err := sqlitesaga.New(svc.db, sqlitesaga.Config{})
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(context.Background()); err != nil {
		return nil, err
	}
	cfg := saga.Config{
		LeaseDuration: leaseDuration,
		PollInterval:  200 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelError})),
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			switch e := e.(type) {
			case saga.CompensationStarted:
				fmt.Fprintf(out, "  ! %v: compensating the steps done so far, last first\n", e.Err)
			case saga.Finished:
				fmt.Fprintf(out, "  => %s: %s\n", e.SagaID, e.Status)
			}
		}),
	}
	return saga.New(definition(svc, out), store, cfg)
}

const leaseDuration = 2 * time.Second

func money(cents int) string { return fmt.Sprintf("%d.%02d EUR", cents/100, cents%100) }
