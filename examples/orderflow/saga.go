package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
)

// Order is the saga's data: the order as its event carried it, and what
// the steps learned on the way. The saga's log keeps it, so a compensation,
// or an orchestrator taking the saga over after a crash, knows what to do.
type Order struct {
	ID     string `json:"id"`
	Client string `json:"client"`
	SKU    string `json:"sku"`
	Qty    int    `json:"qty"`
	Cents  int    `json:"cents"`
	Card   string `json:"card"`
	Charge string `json:"charge,omitempty"`
	Trace  string `json:"trace,omitempty"` // the W3C traceparent of the message that started the saga (tracing.go)
}

// The saga's steps.
const (
	stepReserve = "reserve-inventory"
	stepCharge  = "charge-payment"
	stepShip    = "ship"
	stepNotify  = "notify"
)

// errDeclined is the payment service's 402.
var errDeclined = errors.New("card declined")

// reservationKey is the key the order's stock was reserved under: the
// reserve step's action key. The release and the shipment name the
// reservation by it.
func reservationKey(sagaID string) string {
	return saga.Invocation{SagaID: sagaID, Step: stepReserve}.Key()
}

// orderSaga is the order's saga, after Chris Richardson's model:
//
//	reserve-inventory  compensatable: released if a later step fails
//	charge-payment     the pivot: once the card is charged, the order goes through
//	ship               retriable: retried until it works, never undone
//	notify             retriable
//
// Each step calls its service with the invocation's key (saga ID and step
// name) as the Idempotency-Key: the same on every retry and after a crash,
// so the service does the work once.
//
// The transports retry blips within one request, and give up at once when
// a breaker or a bulkhead refuses the call. The steps' policies wait out
// outages: they retry refusals too (RetryRejected), and when a breaker is
// open, its error says when it will let a call through again (RetryAfter),
// so the step's retry waits that long before trying again, instead of
// hammering it. A reservation waits up to four phases, then the saga gives
// up on it and compensates.
func orderSaga(inventory, payments, notifications *downstream, phase time.Duration) (saga.Definition[Order], error) {
	outage, err := retry.New(retry.Config{
		MaxAttempts:    retry.Unlimited, // MaxElapsedTime ends it
		MaxElapsedTime: 4 * phase,
		Backoff:        retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:       phase / 2,
		RetryRejected:  true,
	})
	if err != nil {
		return saga.Definition[Order]{}, err
	}
	// The pivot must not fail unless the charge surely did not happen: a
	// charge that timed out may have gone through, and the saga would then
	// release the stock of a paid order. So it is retried, under its key,
	// until the payment service gives an answer: charged, or declined.
	untilAnswered, err := retry.New(retry.Config{
		MaxAttempts:   retry.Unlimited, // a decline is permanent and ends it
		Backoff:       retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.FullJitter},
		MaxDelay:      phase / 2,
		RetryRejected: true,
	})
	if err != nil {
		return saga.Definition[Order]{}, err
	}
	return saga.Definition[Order]{
		Name: "order",
		// A saga still short of the pivot after this is compensated.
		Timeout: 6 * phase,
		Steps: []saga.Step[Order]{
			{
				Name: stepReserve, Policy: outage,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					return inventory.post(ctx, "/reservations", inv.Key(), reservationRequest{OrderID: o.ID, SKU: o.SKU, Qty: o.Qty}, nil)
				},
				// The compensation also runs when the reservation itself
				// failed: it may have gone through unseen. The inventory
				// service releases what there is under the key, and
				// remembers the release so that a late reserve takes nothing.
				Compensate: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					return inventory.post(ctx, "/reservations/release", inv.Key(), releaseRequest{OrderID: o.ID, Reservation: reservationKey(inv.SagaID)}, nil)
				},
			},
			{
				Name: stepCharge, Kind: saga.Pivot, Policy: untilAnswered,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					var c chargeResponse
					err := payments.post(ctx, "/charges", inv.Key(), chargeRequest{OrderID: o.ID, Card: o.Card, Cents: o.Cents}, &c)
					if ce := (*callError)(nil); errors.As(err, &ce) && ce.status == http.StatusPaymentRequired {
						return retry.Permanent(errDeclined)
					}
					o.Charge = c.ChargeID
					return err
				},
			},
			{
				Name: stepShip, Kind: saga.Retriable, Policy: outage,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					return inventory.post(ctx, "/shipments", inv.Key(), releaseRequest{OrderID: o.ID, Reservation: reservationKey(inv.SagaID)}, nil)
				},
			},
			{
				Name: stepNotify, Kind: saga.Retriable, Policy: outage,
				Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
					msg := fmt.Sprintf("Your order %s is on its way: %d × %s, %s charged.", o.ID, o.Qty, o.SKU, money(o.Cents))
					// Marked idempotent, the request may be hedged.
					return notifications.post(hedge.Idempotent(ctx), "/notifications", inv.Key(), notificationRequest{OrderID: o.ID, Message: msg}, nil)
				},
			},
		},
	}, nil
}

func money(cents int) string { return fmt.Sprintf("%d.%02d EUR", cents/100, cents%100) }
