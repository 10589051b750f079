package otelbulwark_test

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/outbox"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestMessageCarrier(t *testing.T) {
	var m outbox.Message
	c := otelbulwark.MessageCarrier{Message: &m}
	if c.Get("traceparent") != "" || len(c.Keys()) != 0 {
		t.Fatal("an empty message carries something")
	}
	c.Set("traceparent", "a")
	if m.Headers["traceparent"] != "a" {
		t.Fatalf("Set on nil Headers: %v", m.Headers)
	}
	m.Headers = map[string]string{"Traceparent": "b", "Content-Type": "json"}
	if got := c.Get("traceparent"); got != "b" {
		t.Errorf("Get ignoring case: %q, want b", got)
	}
	c.Set("traceparent", "c")
	if len(m.Headers) != 2 || m.Headers["traceparent"] != "c" {
		t.Errorf("Set over a key of other case: %v", m.Headers)
	}
	keys := c.Keys()
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"Content-Type", "traceparent"}) {
		t.Errorf("Keys %v", keys)
	}
}

// TestTraceSpansCommitRelayBrokerConsumer follows one message from the
// request that enqueued it, through the relay's publish, to its consumer:
// one trace, each span the child of the one before, baggage carried along.
func TestTraceSpansCommitRelayBrokerConsumer(t *testing.T) {
	r := newRig(t, false)
	ctx := context.Background()
	member, _ := baggage.NewMember("tenant", "acme")
	bag, _ := baggage.New(member)
	ctx = baggage.ContextWithBaggage(ctx, bag)
	ctx, request := r.tp.Tracer("shop").Start(ctx, "POST /orders")

	store := outbox.NewMemoryStore()
	msg := outbox.NewMessage("orders", "order-1", []byte(`{}`))
	r.tel.Inject(ctx, &msg)
	if err := store.Enqueue(ctx, msg); err != nil { // in the order's transaction
		t.Fatal(err)
	}
	request.End()

	broker := outbox.NewMemoryPublisher()
	relay, err := outbox.NewRelay(store, r.tel.TracePublisher(broker), outbox.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	relayCtx, relaySpan := r.tp.Tracer("relay").Start(context.Background(), "relay loop")
	if res, err := relay.ProcessBatch(relayCtx); err != nil || res.Published != 1 {
		t.Fatalf("ProcessBatch: %+v, %v", res, err)
	}
	relaySpan.End()

	delivered := broker.Messages()[0]
	var tenant string
	var consumed trace.SpanContext
	if err := r.tel.Consume(context.Background(), delivered, func(ctx context.Context) error {
		tenant = baggage.FromContext(ctx).Member("tenant").Value()
		consumed = trace.SpanContextFromContext(ctx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range r.spans.Ended() {
		spans[s.Name()] = s
	}
	req, pub, proc := spans["POST /orders"], spans["publish orders"], spans["process orders"]
	if req == nil || pub == nil || proc == nil {
		t.Fatalf("spans %v", spans)
	}
	traceID := req.SpanContext().TraceID()
	if pub.SpanContext().TraceID() != traceID || proc.SpanContext().TraceID() != traceID {
		t.Error("publish and process are not in the request's trace")
	}
	if pub.Parent().SpanID() != req.SpanContext().SpanID() {
		t.Error("the publish span is not the enqueuing request's child")
	}
	if proc.Parent().SpanID() != pub.SpanContext().SpanID() || !proc.Parent().IsRemote() {
		t.Error("the process span is not the publish span's (remote) child")
	}
	if extracted := trace.SpanContextFromContext(r.tel.Extract(context.Background(), delivered)); !extracted.Equal(pub.SpanContext().WithRemote(true)) {
		t.Errorf("Extract gives %v, want the publish span's context", extracted)
	}
	if !consumed.Equal(proc.SpanContext()) {
		t.Error("the handler does not run in the process span")
	}
	if pub.SpanKind() != trace.SpanKindProducer || proc.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds %v and %v, want producer and consumer", pub.SpanKind(), proc.SpanKind())
	}
	for _, s := range []sdktrace.ReadOnlySpan{pub, proc} {
		a := attrs(s.Attributes())
		if a["messaging.destination.name"].AsString() != "orders" || a["messaging.message.id"].AsString() != msg.ID.String() ||
			a["bulwark.outbox.key"].AsString() != "order-1" {
			t.Errorf("%s: attributes %v", s.Name(), a)
		}
	}
	if op := attrs(pub.Attributes())["messaging.operation.type"].AsString(); op != "send" {
		t.Errorf("publish operation type %q", op)
	}
	if op := attrs(proc.Attributes())["messaging.operation.type"].AsString(); op != "process" {
		t.Errorf("process operation type %q", op)
	}
	if tenant != "acme" {
		t.Errorf("baggage tenant %q at the consumer, want acme", tenant)
	}
}

func TestTracePublisherKeepsTheRelaysHeadersAndRecordsFailures(t *testing.T) {
	r := newRig(t, false)
	ctx, request := r.tp.Tracer("shop").Start(context.Background(), "request")
	msg := outbox.NewMessage("orders", "k", nil)
	r.tel.Inject(ctx, &msg)
	request.End()
	sent := msg.Headers["traceparent"]

	failing := outbox.PublisherFunc(func(context.Context, outbox.Message) error { return errDown })
	var got outbox.Message
	capture := outbox.PublisherFunc(func(_ context.Context, m outbox.Message) error { got = m; return nil })
	if err := r.tel.TracePublisher(capture).Publish(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if msg.Headers["traceparent"] != sent {
		t.Error("publishing changed the relay's copy of the headers")
	}
	if got.Headers["traceparent"] == sent || got.Headers["traceparent"] == "" {
		t.Error("the published message does not carry the publish span's context")
	}
	if err := r.tel.TracePublisher(failing).Publish(context.Background(), msg); err != errDown {
		t.Fatalf("Publish: %v", err)
	}
	ended := r.spans.Ended()
	last := ended[len(ended)-1]
	if last.Status().Code != codes.Error || attrs(last.Attributes())["error.type"].AsString() != "*errors.errorString" {
		t.Errorf("failed publish span: %v %v", last.Status(), last.Attributes())
	}
	// Without trace headers, the publish span is a child of the relay's context.
	relayCtx, relaySpan := r.tp.Tracer("relay").Start(context.Background(), "relay")
	_ = r.tel.TracePublisher(capture).Publish(relayCtx, outbox.NewMessage("orders", "k", nil))
	relaySpan.End()
	ended = r.spans.Ended()
	if pub := ended[len(ended)-2]; pub.Parent().SpanID() != relaySpan.SpanContext().SpanID() {
		t.Error("a message without trace context is not published under the relay's span")
	}
}
