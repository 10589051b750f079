package otelbulwark_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestConsumeMiddlewareContinuesThePublishersTrace follows a message from
// the request that enqueued it, through the relay's traced publish and a
// broker (a consume.MemoryQueue, its header names upper-cased as some
// brokers do), to a consume.Consumer's handler: the handler runs in a
// consumer span, the publish span's remote child, with the baggage; a
// failed run is recorded on its own span and the retry gets another.
func TestConsumeMiddlewareContinuesThePublishersTrace(t *testing.T) {
	r := newRig(t, false)
	member, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(member)
	ctx, request := r.tp.Tracer("shop").Start(baggage.ContextWithBaggage(context.Background(), bag), "POST /orders")
	store := outbox.NewMemoryStore()
	msg := outbox.NewMessage("orders", "order-1", []byte(`{}`))
	r.tel.Inject(ctx, &msg)
	must(t, store.Enqueue(ctx, msg))
	request.End()
	broker := outbox.NewMemoryPublisher()
	relay, err := outbox.NewRelay(store, r.tel.TracePublisher(broker), outbox.DefaultConfig())
	must(t, err)
	if res, err := relay.ProcessBatch(context.Background()); err != nil || res.Published != 1 {
		t.Fatalf("ProcessBatch: %+v, %v", res, err)
	}

	published := broker.Messages()[0]
	headers := map[string]string{}
	for k, v := range published.Headers {
		headers[strings.ToUpper(k)] = v
	}
	q := consume.NewMemoryQueue(nil)
	q.Publish(consume.Message{ID: published.ID.String(), Key: published.Key, Topic: published.Topic, Payload: published.Payload, Headers: headers})

	type run struct {
		span   trace.SpanContext
		tenant string
	}
	runs := make(chan run, 2)
	h := consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		runs <- run{trace.SpanContextFromContext(ctx), baggage.FromContext(ctx).Member("tenant").Value()}
		if m.Attempt == 1 {
			return errors.New("inventory down")
		}
		return nil
	})
	c, err := consume.New(q.Source(), consume.Chain(h, r.tel.ConsumeMiddleware()), consume.Config{
		InPlaceAttempts: consume.NoInPlaceRetries, Redelivery: retry.Constant{Delay: time.Millisecond},
	})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	first, second := <-runs, <-runs
	for q.Acked() != 1 {
		time.Sleep(time.Millisecond)
	}
	must(t, c.Close(context.Background()))
	must(t, <-done)

	var pub sdktrace.ReadOnlySpan
	var procs []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		switch s.Name() {
		case "publish orders":
			pub = s
		case "process orders":
			procs = append(procs, s)
		}
	}
	if pub == nil || len(procs) != 2 {
		t.Fatalf("publish span %v, %d process spans", pub, len(procs))
	}
	for i, proc := range procs {
		if proc.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("process span %d: kind %v", i, proc.SpanKind())
		}
		if proc.Parent().SpanID() != pub.SpanContext().SpanID() || !proc.Parent().IsRemote() ||
			proc.SpanContext().TraceID() != pub.SpanContext().TraceID() {
			t.Errorf("process span %d is not the publish span's remote child", i)
		}
		a := attrs(proc.Attributes())
		if a["messaging.destination.name"].AsString() != "orders" || a["messaging.message.id"].AsString() != msg.ID.String() ||
			a["bulwark.outbox.key"].AsString() != "order-1" || a["messaging.operation.type"].AsString() != "process" ||
			a["bulwark.attempt"].AsInt64() != int64(i+1) {
			t.Errorf("process span %d: attributes %v", i, a)
		}
	}
	if procs[0].Status().Code != codes.Error || procs[0].Status().Description != "inventory down" {
		t.Errorf("the failed run's span: status %v", procs[0].Status())
	}
	if procs[1].Status().Code == codes.Error {
		t.Errorf("the successful run's span: status %v", procs[1].Status())
	}
	for i, rn := range []run{first, second} {
		if !rn.span.Equal(procs[i].SpanContext()) {
			t.Errorf("run %d does not run in its process span", i+1)
		}
		if rn.tenant != "acme" {
			t.Errorf("run %d: baggage tenant %q", i+1, rn.tenant)
		}
	}
}

// TestConsumeMiddlewareWithoutTraceContext: a message carrying no trace
// context gets a root consumer span; a panic is recorded and goes on to
// consume.Recover outside.
func TestConsumeMiddlewareWithoutTraceContext(t *testing.T) {
	r := newRig(t, false)
	h := consume.Chain(consume.HandlerFunc(func(context.Context, *consume.Message) error { panic("boom") }),
		consume.Recover(), r.tel.ConsumeMiddleware())
	err := h.Handle(context.Background(), &consume.Message{ID: "m", Topic: "t", Attempt: 1})
	var pe *consume.PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("err %v, want a *consume.PanicError", err)
	}
	s := r.onlySpan(t)
	if s.Name() != "process t" || s.Parent().IsValid() || s.Status().Code != codes.Error {
		t.Errorf("span %q, parent %v, status %v", s.Name(), s.Parent(), s.Status())
	}
}

// TestConsumerEventsBecomeMetrics: a Consumer observed by the Telemetry
// counts its failed runs, redeliveries, dead letters and releases.
func TestConsumerEventsBecomeMetrics(t *testing.T) {
	r := newRig(t, false)
	q := consume.NewMemoryQueue(nil)
	q.Publish(
		consume.Message{ID: "retried", Key: "k", Topic: "orders"},
		consume.Message{ID: "poison", Topic: "orders"},
		consume.Message{ID: "slow", Topic: "orders"},
	)
	started := make(chan struct{})
	var sink retry.MemorySink[consume.Message]
	c, err := consume.New(q.Source(), consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		switch {
		case m.ID == "poison":
			return consume.Permanent(&statusError{422})
		case m.ID == "retried" && m.Attempt == 1:
			return &statusError{503}
		case m.ID == "slow":
			close(started)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}), consume.Config{Name: "orders-consumer", Observer: r.tel, DeadLetters: &sink,
		InPlaceAttempts: consume.NoInPlaceRetries, Redelivery: retry.Constant{Delay: time.Millisecond}})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-started
	for q.Acked() != 2 {
		time.Sleep(time.Millisecond)
	}
	cancel() // the slow one is released
	<-done
	must(t, c.Close(context.Background()))

	got := r.collect(t)
	topic := attribute.Key("messaging.destination.name").String("orders")
	name := attrName.String("orders-consumer")
	wantCounter(t, got, "bulwark.consume.failed_runs", "{run}",
		p(int64(2), name, topic, errorType.String("*otelbulwark_test.statusError")))
	wantCounter(t, got, "bulwark.consume.redelivered_messages", "{message}",
		p(int64(1), name, topic, attribute.Key("bulwark.consume.in_process").Bool(true)))
	wantCounter(t, got, "bulwark.consume.dead_lettered_messages", "{message}",
		p(int64(1), name, topic, errorType.String("*otelbulwark_test.statusError")))
	wantCounter(t, got, "bulwark.consume.released_messages", "{message}", p(int64(1), name, topic))
}
