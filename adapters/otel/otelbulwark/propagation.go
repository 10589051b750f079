package otelbulwark

import (
	"context"
	"maps"
	"strings"

	"github.com/bulwark-go/bulwark/outbox"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// MessageCarrier is a propagation.TextMapCarrier over the Headers of an
// outbox message, so that trace context travels with the message from the
// transaction that enqueued it, through the relay and the broker, to the
// consumer. Get matches keys regardless of case (brokers and their clients
// do not all keep it); Set makes Headers when it is nil and replaces any key
// that differs from key only in case.
type MessageCarrier struct {
	Message *outbox.Message
}

var _ propagation.TextMapCarrier = MessageCarrier{}

// Get returns the value of the header key, or "" when there is none.
func (c MessageCarrier) Get(key string) string { return getFold(c.Message.Headers, key) }

// getFold returns the value of headers[key], or of a key differing from it
// only in case, or "".
func getFold(headers map[string]string, key string) string {
	if v, ok := headers[key]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Set sets the header key to value.
func (c MessageCarrier) Set(key, value string) {
	if c.Message.Headers == nil {
		c.Message.Headers = make(map[string]string, 2)
	}
	for k := range c.Message.Headers {
		if k != key && strings.EqualFold(k, key) {
			delete(c.Message.Headers, k)
		}
	}
	c.Message.Headers[key] = value
}

// Keys returns the message's header keys.
func (c MessageCarrier) Keys() []string {
	keys := make([]string, 0, len(c.Message.Headers))
	for k := range c.Message.Headers {
		keys = append(keys, k)
	}
	return keys
}

// Inject writes the trace context of ctx (and its baggage, with the default
// propagator) into msg's headers with the Telemetry's propagator. Call it
// before enqueueing msg in the transaction whose trace the message
// continues; TracePublisher and Consume read it back.
func (t *Telemetry) Inject(ctx context.Context, msg *outbox.Message) {
	t.check()
	t.propagator.Inject(ctx, MessageCarrier{Message: msg})
}

// Extract returns ctx with the trace context carried by msg's headers,
// for a consumer that starts its own spans (Consume does it for you).
func (t *Telemetry) Extract(ctx context.Context, msg outbox.Message) context.Context {
	t.check()
	return t.propagator.Extract(ctx, MessageCarrier{Message: &msg})
}

// TracePublisher returns a Publisher that publishes each message with pub
// in a span of kind producer named "publish <topic>", child of the trace
// context the message carries (Inject) or else of ctx's span, with
// messaging.operation.name "publish", messaging.operation.type "send",
// messaging.destination.name, messaging.message.id and bulwark.outbox.key.
// The message goes to pub carrying the publish span's context in a copy of
// its headers (the relay's copy is not changed), so the consumer's span is
// a child of the publish span. A failed publish sets the span's status as
// Trace does. Give it to outbox.NewRelay in place of pub.
func (t *Telemetry) TracePublisher(pub outbox.Publisher) outbox.Publisher {
	t.check()
	return &tracePublisher{t: t, pub: pub}
}

type tracePublisher struct {
	t   *Telemetry
	pub outbox.Publisher
}

func (p *tracePublisher) Publish(ctx context.Context, msg outbox.Message) error {
	ctx = p.t.propagator.Extract(ctx, MessageCarrier{Message: &msg})
	ctx, span := p.t.tracer.Start(ctx, "publish "+msg.Topic,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingOperationName("publish"), semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationName(msg.Topic), semconv.MessagingMessageID(msg.ID.String()),
			outboxKeyKey.String(msg.Key)))
	msg.Headers = maps.Clone(msg.Headers)
	p.t.propagator.Inject(ctx, MessageCarrier{Message: &msg})
	return runInSpan(ctx, span, func(ctx context.Context) error { return p.pub.Publish(ctx, msg) }, nil)
}

// Consume runs handle for msg in a span of kind consumer named
// "process <topic>", child of the trace context msg carries, with
// messaging.operation.name and messaging.operation.type "process",
// messaging.destination.name, messaging.message.id and bulwark.outbox.key.
// handle's context holds the span; a failure or panic is recorded as Trace
// records them. It returns handle's error.
func (t *Telemetry) Consume(ctx context.Context, msg outbox.Message, handle func(context.Context) error) error {
	t.check()
	ctx = t.propagator.Extract(ctx, MessageCarrier{Message: &msg})
	ctx, span := t.tracer.Start(ctx, "process "+msg.Topic,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(msg.Topic), semconv.MessagingMessageID(msg.ID.String()),
			outboxKeyKey.String(msg.Key)))
	return runInSpan(ctx, span, handle, nil)
}
