package main

import (
	"context"
	cryptorand "crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/google/uuid"
)

//go:embed settings.json
var settings []byte

type options struct {
	addr  string
	token string
}

// run starts the system and the console, prints the console's address and
// the operator's token to out, and serves until ctx is done.
func run(ctx context.Context, out io.Writer, opts options) error {
	if opts.token == "" {
		b := make([]byte, 16)
		_, _ = cryptorand.Read(b) // crypto/rand.Read never fails
		opts.token = hex.EncodeToString(b)
	}
	quiet := slog.New(slog.DiscardHandler)
	var ops *console.Console
	observe := bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) { ops.Observe(ctx, e) })

	doc, err := policyset.Parse(settings)
	if err != nil {
		return err
	}
	set, err := policyset.New(doc, policyset.Config{Name: "example", Observer: observe, Logger: quiet})
	if err != nil {
		return err
	}

	store := outbox.NewMemoryStore()
	relay, err := outbox.NewRelay(store, outbox.PublisherFunc(flakyBroker), outbox.Config{
		Name: "orders", Observer: observe, Logger: quiet, MaxAttempts: 2,
		Backoff: retry.Constant{Delay: 100 * time.Millisecond}, PollInterval: 200 * time.Millisecond,
	})
	if err != nil {
		return err
	}

	refunds, err := saga.New(refundSaga(), saga.NewMemoryStore(), saga.Config{Name: "refunds", CompensationAttempts: 1, Logger: quiet})
	if err != nil {
		return err
	}
	events := eventsource.NewMemoryStore()
	projector, err := cqrs.New(events, cqrs.NewMemoryStore(), []cqrs.Projection[cqrs.NoTx]{totals()}, cqrs.Config{
		Name: "reports", MaxAttempts: 2, Backoff: retry.Constant{Delay: 50 * time.Millisecond}, Logger: quiet,
	})
	if err != nil {
		return err
	}

	ops, err = console.New(console.Config{
		Policies:    set,
		Outboxes:    map[string]console.Outbox{"orders": store},
		Sagas:       map[string]console.Sagas{"refunds": console.SagasOf(refunds)},
		Projections: map[string]console.Projections{"reports": projector},
		Tokens:      map[string]string{"operator": opts.token},
	})
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/", http.StripPrefix("/ops", ops))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	services := bulwark.Start(ctx, relay, projector, refunds)
	var work sync.WaitGroup
	work.Go(func() { traffic(ctx, set) })
	work.Go(func() { orders(ctx, store) })
	// A refund whose compensation meets the provider down: it needs
	// attention at once.
	if err := refunds.Execute(ctx, "refund-1001", Refund{Order: "order-1001", Amount: 42}); err != nil && !errors.Is(err, saga.ErrNeedsAttention) {
		return fmt.Errorf("starting the refund saga: %w", err)
	}
	if err := appendOrders(ctx, events); err != nil {
		return err
	}

	fmt.Fprintf(out, "console: http://%s/ops/\n", lis.Addr())
	fmt.Fprintf(out, "operator token: %s\n", opts.token)

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	work.Wait()
	return errors.Join(err, ops.Close(stopCtx), srv.Shutdown(stopCtx), services.Stop(stopCtx))
}

// traffic calls both policies about 40 times a second each until ctx is
// done.
func traffic(ctx context.Context, set *policyset.Set) {
	inventory, _ := set.Policy("inventory") // both are in settings.json
	payments, _ := set.Policy("payments")
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var calls sync.WaitGroup
	defer calls.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, p := range []*policyset.Policy{inventory, payments} {
			calls.Go(func() {
				_ = p.Do(ctx, func(ctx context.Context) error {
					return sleep(ctx, time.Duration(5+rand.IntN(20))*time.Millisecond)
				})
			})
		}
	}
}

// flakyBroker rejects a quarter of the messages.
func flakyBroker(ctx context.Context, m outbox.Message) error {
	if rand.IntN(4) == 0 {
		return fmt.Errorf("broker: publishing %s: connection reset", m.Key)
	}
	return nil
}

// orders enqueues an order event every half second.
func orders(ctx context.Context, store *outbox.MemoryStore) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		msg := outbox.NewMessage("orders.placed", fmt.Sprintf("order-%d", n), fmt.Appendf(nil, `{"order": %d}`, n))
		_ = store.Enqueue(ctx, msg) // the memory store fails only on a done ctx
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Refund is the data of the refund saga.
type Refund struct {
	Order  string
	Amount int
}

// refundSaga reverses a charge, then fails to notify the warehouse, so the
// charge's compensation runs; the payment provider is down the first time
// each saga compensates, so the saga needs attention, and a resume
// succeeds.
func refundSaga() saga.Definition[Refund] {
	var mu sync.Mutex
	tried := map[string]bool{}
	return saga.Definition[Refund]{
		Name: "refund",
		Steps: []saga.Step[Refund]{
			{Name: "reverse-charge", Action: func(context.Context, *Refund, saga.Invocation) error { return nil },
				Compensate: func(_ context.Context, _ *Refund, inv saga.Invocation) error {
					mu.Lock()
					defer mu.Unlock()
					if !tried[inv.Key()] {
						tried[inv.Key()] = true
						return errors.New("payment provider: 503 service unavailable")
					}
					return nil
				}},
			{Name: "notify-warehouse", Action: func(context.Context, *Refund, saga.Invocation) error {
				return errors.New("warehouse: order not found")
			}},
		},
	}
}

// totals is a projection of order totals that cannot read a malformed
// event, so it parks there.
func totals() cqrs.Projection[cqrs.NoTx] {
	var mu sync.Mutex
	sums := map[string]int{}
	return cqrs.Projection[cqrs.NoTx]{
		Name: "order-totals",
		Handle: func(_ context.Context, _ cqrs.NoTx, e eventsource.Event) error {
			if e.Type != "order.placed" {
				return fmt.Errorf("event %d: unknown type %q", e.GlobalPosition, e.Type)
			}
			mu.Lock()
			defer mu.Unlock()
			sums[e.StreamID] += len(e.Data)
			return nil
		},
		Reset: func(context.Context, cqrs.NoTx) error {
			mu.Lock()
			defer mu.Unlock()
			clear(sums)
			return nil
		},
	}
}

// appendOrders appends a few order events and one malformed event.
func appendOrders(ctx context.Context, events *eventsource.MemoryStore) error {
	for i, typ := range []string{"order.placed", "order.placed", "order.plcaed", "order.placed"} {
		ev := eventsource.EventData{ID: uuid.New(), Type: typ, SchemaVersion: 1, Data: fmt.Appendf(nil, `{"n": %d}`, i)}
		if _, err := events.Append(ctx, fmt.Sprintf("order-%d", i), eventsource.Any, ev); err != nil {
			return err
		}
	}
	return nil
}
