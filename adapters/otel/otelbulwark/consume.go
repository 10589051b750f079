package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/consume"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ConsumeMiddleware returns a consume.Middleware that runs each handler of a
// consume.Consumer in a span of kind consumer named "process <topic>", child
// of the trace context the message's Headers carry (put there by Inject and
// TracePublisher, carried by any consume Source), with the baggage they
// carry, and with messaging.operation.name and messaging.operation.type
// "process", messaging.destination.name (Message.Topic),
// messaging.message.id (Message.ID), bulwark.outbox.key (Message.Key) and
// bulwark.attempt (Message.Attempt). The handler's context holds the span;
// a failure or a panic is recorded as Trace records them (the panic goes
// on: put consume.Recover outside this middleware to make it a failed
// attempt). Header names match regardless of case, as MessageCarrier's.
func (t *Telemetry) ConsumeMiddleware() consume.Middleware {
	t.check()
	return func(next consume.Handler) consume.Handler {
		return consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
			ctx = t.propagator.Extract(ctx, headerCarrier(m.Headers))
			ctx, span := t.tracer.Start(ctx, "process "+m.Topic,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					semconv.MessagingOperationName("process"), semconv.MessagingOperationTypeProcess,
					semconv.MessagingDestinationName(m.Topic), semconv.MessagingMessageID(m.ID),
					outboxKeyKey.String(m.Key), attemptKey.Int(m.Attempt)))
			return runInSpan(ctx, span, func(ctx context.Context) error { return next.Handle(ctx, m) }, nil)
		})
	}
}

// headerCarrier reads a consumed message's headers for extraction; Set
// does nothing, as a handler's message is not to be changed.
type headerCarrier map[string]string

var _ propagation.TextMapCarrier = headerCarrier(nil)

func (h headerCarrier) Get(key string) string { return getFold(h, key) }

func (headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// consumeFailure is the measurement option of a consumer's failure:
// bulwark.name, messaging.destination.name and error.type.
func consumeFailure(name, topic string, err error) metric.MeasurementOption {
	return with(name, semconv.MessagingDestinationName(topic), errorTypeKey.String(ErrorType(err)))
}
