package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/nats-io/nats.go/jetstream"
)

// processor is the order processor: it consumes orders.created from
// JetStream and runs the order saga for each order.
type processor struct {
	orch        *saga.Orchestrator[Order]
	inbox       *idempotency.Inbox
	lostAcks    *chaos.Injector
	consumer    jetstream.ConsumeContext
	downstreams []*downstream
	story       *story
	count       *counters
	poison      atomic.Int64 // messages no redelivery could fix

	ctx      context.Context // ends when the processor closes
	cancel   context.CancelFunc
	handlers sync.WaitGroup
	running  *bulwark.Group // the orchestrator's Run
}

// serviceURLs are where the processor finds its downstream services.
type serviceURLs struct {
	inventory, payments, notifications string
}

func startProcessor(ctx context.Context, st storage, db *database, b *broker, urls serviceURLs, seed uint64, phase time.Duration, story *story, count *counters) (*processor, error) {
	p := &processor{story: story, count: count}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()

	// One client per downstream service, each with its own breaker,
	// bulkhead and retry budget: one service in trouble must not take the
	// calls to the others down with it.
	var clients [downstreams]*downstream
	for i, c := range []downstreamConfig{
		{index: svcInventory, url: urls.inventory, attemptTimeout: 500 * time.Millisecond, openWait: phase / 5},
		{index: svcPayments, url: urls.payments, attemptTimeout: 500 * time.Millisecond, openWait: phase / 5},
		{index: svcNotifications, url: urls.notifications, attemptTimeout: 3 * time.Second, hedgeAfter: 100 * time.Millisecond, openWait: phase / 5},
	} {
		d, err := newDownstream(c, story, count)
		if err != nil {
			return nil, err
		}
		clients[i] = d
		p.downstreams = append(p.downstreams, d)
	}

	def, err := orderSaga(clients[svcInventory], clients[svcPayments], clients[svcNotifications], phase)
	if err != nil {
		return nil, err
	}
	sagas, err := st.sagas(ctx, db)
	if err != nil {
		return nil, err
	}
	p.orch, err = saga.New(def, sagas, saga.Config{
		LeaseDuration: 15 * time.Second,
		PollInterval:  time.Second,
		Backoff:       retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.EqualJitter},
		MaxDelay:      phase / 2,
		// A shipment or notification that still fails after this many
		// tries (each through the step's policy) is left for an operator,
		// listed as NeedsAttention, instead of being retried for ever in
		// silence.
		RetriableAttempts: 20,
		Logger:            slog.New(slog.NewTextHandler(story, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if f, ok := e.(saga.Finished); ok {
				p.finished(f)
			}
		}),
	})
	if err != nil {
		return nil, err
	}
	// Run takes over the sagas of an orchestrator that died (none do in
	// this run): any instance resumes them where their log says.
	p.running = bulwark.Start(p.ctx, p.orch)

	// The idempotent consumer. JetStream delivers at least once: again
	// when an ack is lost, when the processor restarts before acking, or
	// when AckWait passes. The inbox runs the handler once per message ID
	// and answers every later delivery with "processed".
	//
	// Why not the transactional inbox (sqliteidempotency.Inbox), which
	// records the message in the same transaction as the handler's writes?
	// The handler's writes here are the saga's, in the saga store, which
	// takes no caller's transaction; and holding SQLite's write lock for a
	// whole saga would run the sagas one at a time. The saga's ID is the
	// order's, so even a delivery the inbox let through twice would find
	// the saga there (saga.ErrExists) and start nothing.
	records, err := st.idempotency(ctx, db)
	if err != nil {
		return nil, err
	}
	keeper, err := idempotency.New(records, idempotency.Config{
		Lease: 2 * time.Minute, // longer than any saga of this run takes
	})
	if err != nil {
		return nil, err
	}
	p.inbox, err = idempotency.NewInbox(keeper, idempotency.InboxConfig{
		Consumer: "order-processor",
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(idempotency.Duplicate); ok {
				count.redelivery.Add(1)
			}
		}),
	})
	if err != nil {
		return nil, err
	}
	// Chaos between the processor and JetStream: some acks are lost.
	if p.lostAcks, err = chaos.New(chaos.Config{Seed: seed, Faults: chaos.Faults{ErrorRate: 0.08}}); err != nil {
		return nil, err
	}

	cons, err := b.js.CreateOrUpdateConsumer(ctx, "ORDERS", jetstream.ConsumerConfig{
		Durable:       "order-processor",
		FilterSubject: "orders.created",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       2 * time.Minute, // a message is acked when its saga has ended
		MaxAckPending: 64,              // at most this many sagas in flight
	})
	if err != nil {
		return nil, err
	}
	if p.consumer, err = cons.Consume(p.deliver); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// deliver handles each delivery on a goroutine of its own: sagas take
// seconds, and run side by side.
func (p *processor) deliver(msg jetstream.Msg) {
	p.handlers.Add(1)
	go func() {
		defer p.handlers.Done()
		p.handle(msg)
	}()
}

func (p *processor) handle(msg jetstream.Msg) {
	p.count.delivered.Add(1)
	m, err := natsoutbox.Decode(msg.Subject(), msg.Headers(), msg.Data())
	var ev orderEvent
	if err == nil {
		err = json.Unmarshal(m.Payload, &ev)
	}
	if err != nil {
		// A poison message: no redelivery will make it readable. Stop its
		// redelivery and say so; a real service would keep it aside.
		p.poison.Add(1)
		p.story.say("processor: an unreadable message (%v) is terminated", err)
		_ = msg.Term()
		return
	}
	_, err = p.inbox.Process(p.ctx, m.ID.String(), func(ctx context.Context) error {
		return p.runSaga(ctx, ev)
	})
	if err != nil {
		// Another delivery of it is being handled, or the saga stopped
		// short (the processor is closing): JetStream delivers it again.
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if p.lostAcks.Do(p.ctx, func(context.Context) error { return nil }) != nil {
		p.story.say("processor: the ack for %s's orders.created was lost; JetStream will deliver it again", ev.OrderID)
		_ = msg.Nak() // what a lost ack comes to, without waiting AckWait for it
		return
	}
	_ = msg.Ack()
}

// runSaga runs the order's saga to its end. A saga that completed, was
// compensated or waits for an operator is a handled message; so is one
// that exists already (Run drives it if it is unfinished).
//
// Execute takes the end of its context as the caller giving up on the
// order, and compensates a saga short of its pivot: so the saga runs on a
// context the processor's shutdown does not end. Shutting down is Close's
// job: it stops each saga at its next transition, for Run (here or in
// another instance) to resume.
func (p *processor) runSaga(ctx context.Context, ev orderEvent) error {
	order := Order{ID: ev.OrderID, Client: ev.Client, SKU: ev.SKU, Qty: ev.Qty, Cents: ev.Cents, Card: ev.Card}
	err := p.orch.Execute(context.WithoutCancel(ctx), ev.OrderID, order)
	if err == nil || errors.Is(err, saga.ErrCompensated) || errors.Is(err, saga.ErrNeedsAttention) || errors.Is(err, saga.ErrExists) {
		return nil
	}
	return err
}

// finished tells the end of each saga.
func (p *processor) finished(ev saga.Finished) {
	snap, err := p.orch.Get(context.Background(), ev.SagaID)
	if err != nil {
		p.story.say("processor: reading saga %s: %v", ev.SagaID, err)
		return
	}
	o := snap.Data
	switch ev.Status {
	case saga.Completed:
		p.count.completed.Add(1)
		p.story.say("✓ %s completed: %d × %s reserved, %s charged (%s), shipped, customer notified", o.ID, o.Qty, o.SKU, money(o.Cents), o.Charge)
	case saga.Compensated:
		p.count.compensate.Add(1)
		cause := ev.Err.Error()
		if errors.Is(ev.Err, errDeclined) {
			cause = "the card was declined"
		}
		p.story.say("↺ %s compensated: %s, so its reservation of %d × %s was released", o.ID, cause, o.Qty, o.SKU)
	default:
		p.story.say("! %s %s: %v — an operator must look at it", o.ID, ev.Status, ev.Err)
	}
}

// close stops consuming, stops the orchestrator (the step invocations in
// flight finish and are written; the sagas' messages go back to JetStream,
// unacknowledged, for Run here or in another instance to resume), and waits
// for the deliveries in hand.
func (p *processor) close() {
	if p.consumer != nil {
		p.consumer.Stop()
		<-p.consumer.Closed()
	}
	if p.running != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := p.running.Stop(ctx); err != nil {
			p.story.say("processor: stopping the orchestrator: %v", err)
		}
		cancel()
	}
	p.cancel()
	p.handlers.Wait()
	for _, d := range p.downstreams {
		d.close()
	}
}
