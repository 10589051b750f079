package otelbulwark_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A retry around a circuit breaker, observed by a Telemetry beside an
// observer of the program's own: the breaker's state is a gauge, retries
// and rejections are counters, and each call is a span holding the events
// of the components it went through.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer mp.Shutdown(ctx)
	defer tp.Shutdown(ctx)

	tel, err := otelbulwark.New(otelbulwark.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		panic(err)
	}
	mine := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { fmt.Println("event:", e.Kind()) })
	observer := bulwark.Observers(tel, mine)

	breaker, _ := circuitbreaker.New(circuitbreaker.Config{Name: "inventory", Observer: observer,
		ConsecutiveFailures: 2, OpenWaitJitter: circuitbreaker.NoJitter})
	reg, _ := tel.ObserveBreaker("inventory", breaker)
	defer reg.Unregister()
	retrier, _ := retry.New(retry.Config{Name: "inventory", Observer: observer,
		MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Millisecond}})

	policy := bulwark.Chain(tel.Trace("inventory"), retrier, tel.TraceAttempts(), breaker)
	err = policy.Do(ctx, func(context.Context) error { return fmt.Errorf("inventory is down") })
	fmt.Println(errors.Is(err, circuitbreaker.ErrOpen))

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch data := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range data.DataPoints {
				state, _ := dp.Attributes.Value("bulwark.circuitbreaker.state")
				attempt, _ := dp.Attributes.Value("bulwark.retry.attempt")
				reason, _ := dp.Attributes.Value("bulwark.retry.reason")
				lines = append(lines, fmt.Sprint(m.Name, " ", dp.Value, " ", state.String()+attempt.String()+reason.String()))
			}
		}
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	span := spans.Ended()[0]
	fmt.Println("span", span.Name(), span.Status().Code)
	for _, e := range span.Events() {
		fmt.Println("span event:", e.Name)
	}
	// Output:
	// event: retry.retried
	// event: circuitbreaker.state_change
	// event: retry.retried
	// event: circuitbreaker.rejected
	// event: retry.gave_up
	// true
	// bulwark.circuitbreaker.rejected_calls 1 open
	// bulwark.circuitbreaker.transitions 1 open
	// bulwark.retry.give_ups 1 rejected
	// bulwark.retry.retries 1 1
	// bulwark.retry.retries 1 2
	// span inventory Error
	// span event: bulwark.attempt.failed
	// span event: retry.retried
	// span event: circuitbreaker.state_change
	// span event: bulwark.attempt.failed
	// span event: retry.retried
	// span event: circuitbreaker.rejected
	// span event: bulwark.attempt.failed
	// span event: retry.gave_up
}

// Trace context travels with an outbox message: Inject it before the
// message is enqueued, publish through TracePublisher, and Consume it.
func ExampleTelemetry_Inject() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(ctx)
	// OpenTelemetry's global propagator propagates nothing until set: set
	// it, or name one here.
	tel, _ := otelbulwark.New(otelbulwark.Config{TracerProvider: tp, Propagator: propagation.TraceContext{}})

	ctx, request := tp.Tracer("shop").Start(ctx, "POST /orders")
	store := outbox.NewMemoryStore()
	msg := outbox.NewMessage("orders", "order-1", []byte(`{"id":1}`))
	tel.Inject(ctx, &msg)
	_ = store.Enqueue(ctx, msg) // in the order's transaction
	request.End()

	broker := outbox.NewMemoryPublisher()
	relay, _ := outbox.NewRelay(store, tel.TracePublisher(broker), outbox.DefaultConfig())
	_, _ = relay.ProcessBatch(context.Background()) // the relay's own context

	for _, delivered := range broker.Messages() {
		_ = tel.Consume(context.Background(), delivered, func(ctx context.Context) error { return nil })
	}
	for _, s := range spans.Ended() {
		fmt.Println(s.Name(), s.SpanContext().TraceID() == request.SpanContext().TraceID())
	}
	// Output:
	// POST /orders true
	// publish orders true
	// process orders true
}
