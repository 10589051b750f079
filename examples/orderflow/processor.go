package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
)

// processor is the order processor: a consume.Consumer takes orders.created
// in from the broker and runs the order saga for each order.
type processor struct {
	orch        *saga.Orchestrator[Order]
	inbox       *idempotency.Inbox
	broker      broker
	consumer    *consume.Consumer
	services    *bulwark.Group // the consumer's and the orchestrator's Run
	downstreams []*downstream
	story       *story
	count       *counters
	tracing     *tracing
}

func startProcessor(ctx context.Context, st storage, db *database, b broker, tr *tracing, token string, resolver discovery.Resolver, set *policyset.Set, seed uint64, phase time.Duration, story *story, count *counters) (*processor, error) {
	p := &processor{story: story, count: count, broker: b}
	ok := false
	defer func() {
		if !ok {
			p.close()
		}
	}()

	// One client per downstream service, each with its own policy (and so
	// its own breaker, bulkhead and retry budget: one service in trouble
	// must not take the calls to the others down with it), from the
	// settings document, and its own pool of the service's endpoints, from
	// the registry.
	var clients [downstreams]*downstream
	for i, name := range downstreamNames {
		policy, err := set.Policy(name)
		if err != nil {
			return nil, err
		}
		d, err := newDownstream(ctx, i, policy, resolver)
		if err != nil {
			return nil, err
		}
		d.token = token
		d.http.Transport = tr.transport("processor", d.http.Transport) // a client span per call, its trace context in the headers
		clients[i] = d
		p.downstreams = append(p.downstreams, d)
	}

	def, err := orderSaga(clients[svcInventory], clients[svcPayments], clients[svcNotifications], phase)
	if err != nil {
		return nil, err
	}
	def = tr.traceSaga(def) // a span per step invocation
	p.tracing = tr
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
	// The idempotent inbox. The broker delivers at least once (again after
	// a lost ack, a restart, an AckWait run out); the inbox runs the saga
	// once per message ID and answers every later delivery "processed".
	//
	// Why not the transactional inbox (sqliteidempotency.Inbox, which
	// consume.InboxHandler takes), which records the message in the same
	// transaction as the handler's writes? The handler's writes here are
	// the saga's, in the saga store, which takes no caller's transaction;
	// and holding SQLite's write lock for a whole saga would run the sagas
	// one at a time. The saga's ID is the order's, so even a delivery the
	// inbox let through twice would find the saga there (saga.ErrExists)
	// and start nothing.
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

	// The consumer: the broker's Source (natsconsume's durable JetStream
	// consumer, kafkaconsume's consumer group, rabbitconsume's queue)
	// hands it orders.created; consume.Consumer runs handle on each
	// message, up to 64 sagas side by side, acks it once handle returned
	// nil, extends its ack deadline meanwhile where the broker has one,
	// retries it (in place, then redelivered later) when handle fails,
	// and dead-letters it to the broker's dead letters after its 10th
	// delivery, or at once when no delivery can fix it.
	src, err := b.source()
	if err != nil {
		return nil, err
	}
	// Chaos between the processor and the broker: some acks are lost.
	lossy, err := loseAcks(src, seed, count)
	if err != nil {
		return nil, err
	}
	// Each message handled in a consumer span, child of the publish span
	// whose trace context its headers carry.
	tel, err := tr.telemetry("processor")
	if err != nil {
		return nil, err
	}
	p.consumer, err = consume.New(lossy, consume.Chain(consume.HandlerFunc(p.handle), consume.Recover(), tel.ConsumeMiddleware()), consume.Config{
		Name:        "order-processor",
		Observer:    bulwark.ObserverFunc(p.observe),
		Concurrency: 64,
		DeadLetters: b.deadLetterSink(),
	})
	if err != nil {
		return nil, err
	}
	// The orchestrator's Run takes over the sagas of an orchestrator that
	// died (none do here): any instance resumes them where their log says.
	p.services = bulwark.Start(context.Background(), p.consumer, p.orch)
	ok = true
	return p, nil
}

// handle runs the order's saga to its end, once per message ID. A saga
// that completed, was compensated, waits for an operator or exists already
// (Run drives it if unfinished) is a handled message. handle ignores the
// end of its context, which Execute takes as the caller giving up on the
// order (it compensates a saga short of its pivot): the orchestrator's
// Close stops the sagas at a shutdown, for Run (here or in another
// instance) to resume, and the Consumer gives their messages back.
func (p *processor) handle(ctx context.Context, m *consume.Message) error {
	var ev orderEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil || ev.OrderID == "" {
		return consume.Permanent(fmt.Errorf("an unreadable event (%q): %v", m.Payload, err))
	}
	order := Order{ID: ev.OrderID, Client: ev.Client, SKU: ev.SKU, Qty: ev.Qty, Cents: ev.Cents, Card: ev.Card, Trace: p.tracing.traceparent(ctx)}
	_, err := p.inbox.Process(context.WithoutCancel(ctx), m.ID, func(ctx context.Context) error {
		err := p.orch.Execute(ctx, order.ID, order)
		if errors.Is(err, saga.ErrCompensated) || errors.Is(err, saga.ErrNeedsAttention) || errors.Is(err, saga.ErrExists) {
			return nil
		}
		return err
	})
	return err
}

// observe tells the lost acks and the dead letters.
func (p *processor) observe(_ context.Context, e bulwark.Event) {
	switch e := e.(type) {
	case consume.Dropped:
		if errors.Is(e.Err, chaos.ErrInjected) {
			p.story.say("processor: the ack for %s's %s was lost; %s will deliver it again", e.Key, e.Topic, p.broker.name())
		} else {
			p.story.say("processor: settling %s's %s failed (%v); %s will deliver it again", e.Key, e.Topic, e.Err, p.broker.name())
		}
	case consume.DeadLettered:
		p.story.say("processor: gave up on message %s on %s after %d runs (%v): it waits in %s's dead letters", e.ID, e.Topic, e.Runs, e.Err, p.broker.name())
	}
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

// close stops consuming and the orchestrator: the step invocations in
// flight finish and are written (those still running after 10s are cut
// short), and the sagas' messages go back to the broker unacknowledged, for
// Run here or in another instance to resume.
func (p *processor) close() {
	if p.services != nil {
		// Stop receiving, and cut the handlers' context now: they go on
		// (see handle) until the orchestrator's Close stops their sagas.
		now, cut := context.WithCancel(context.Background())
		cut()
		_ = p.consumer.Close(now)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.services.Stop(ctx); err != nil {
			p.story.say("processor: stopping: %v", err)
		}
		<-p.services.Done() // the Consumer has given the messages back
	}
	for _, d := range p.downstreams {
		d.close()
	}
}
