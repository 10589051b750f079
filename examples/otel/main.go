// Command otel shows bulwark's OpenTelemetry instrumentation on a chain of
// retry, circuit breaker and bulkhead in front of a dependency that goes
// down for a while.
//
//	go run ./examples/otel
//
// A client calls an inventory service every 100ms, twelve times; the
// service fails from 0.3s to 0.7s. Each call runs in a span
// (otelbulwark.Trace) with an event per failed attempt (TraceAttempts).
// The retry, breaker and bulkhead report their events to one observer,
// bulwark.Observers(tel, story): the Telemetry counts retries, give-ups,
// changes of state and rejections and adds each event to the call's span,
// while the story observer prints the breaker's changes of state. The
// gauges read the breaker's and the bulkhead's state. The story is printed
// as it happens; then the spans and the metrics, as OpenTelemetry's stdout
// exporters write them (one JSON document per span, then one for the
// metrics). Point the same Telemetry at an OTLP exporter in production.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	calls     = 12
	interval  = 100 * time.Millisecond
	downFrom  = 300 * time.Millisecond
	downUntil = 700 * time.Millisecond
)

var errUnavailable = errors.New("inventory: 503 service unavailable")

func main() {
	if err := run(context.Background(), os.Stdout, clock.System); err != nil {
		fmt.Fprintln(os.Stderr, "otel example:", err)
		os.Exit(1)
	}
}

// The headers between the story, the spans and the metrics.
const (
	spansHeader   = "--- spans (stdouttrace) ---"
	metricsHeader = "--- metrics (stdoutmetric) ---"
)

func run(ctx context.Context, out io.Writer, clk clock.Clock) error {
	// The SDK side: spans are exported as they end (kept until the story is
	// told, then written out); metrics are read once, at the end.
	var spans bytes.Buffer
	spanExporter, err := stdouttrace.New(stdouttrace.WithWriter(&spans))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spanExporter))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = tp.Shutdown(ctx); _ = mp.Shutdown(ctx) }()

	tel, err := otelbulwark.New(otelbulwark.Config{MeterProvider: mp, TracerProvider: tp})
	if err != nil {
		return err
	}
	// The program's own observer, beside the Telemetry: it tells the
	// breaker's changes of state.
	story := bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if c, ok := e.(circuitbreaker.StateChange); ok {
			fmt.Fprintf(out, "        breaker %s: %v -> %v\n", c.Name, c.From, c.To)
		}
	})
	policy, observed, err := newPolicy(bulwark.Observers(tel, story), tel, clk)
	if err != nil {
		return err
	}
	defer func() {
		for _, reg := range observed {
			_ = reg.Unregister()
		}
	}()

	start := clk.Now()
	fmt.Fprintf(out, "calling inventory every %v, %d times; it is down from %v to %v\n\n", interval, calls, downFrom, downUntil)
	for i := range calls {
		if i > 0 {
			if err := clock.Sleep(ctx, clk, interval); err != nil {
				return err
			}
		}
		at := clk.Now().Sub(start)
		err := policy.Do(ctx, func(context.Context) error {
			if at >= downFrom && at < downUntil {
				return errUnavailable
			}
			return nil
		})
		outcome := "ok"
		if err != nil {
			outcome = err.Error()
		}
		fmt.Fprintf(out, "%5.2fs  %s\n", at.Seconds(), outcome)
	}
	fmt.Fprintf(out, "\n%s\n", spansHeader)
	if _, err := spans.WriteTo(out); err != nil {
		return err
	}
	return exportMetrics(ctx, out, reader)
}

// newPolicy builds retry → breaker → bulkhead, each reporting its events
// to obs, traced with tel, and registers the gauges of the breaker and the
// bulkhead with tel.
func newPolicy(obs bulwark.Observer, tel *otelbulwark.Telemetry, clk clock.Clock) (bulwark.Policy, []interface{ Unregister() error }, error) {
	// A rejection by the breaker ends the call at once: the retrier does
	// not knock again on an open breaker.
	retrier, err := retry.New(retry.Config{
		Name: "inventory", Observer: obs, Clock: clk,
		MaxAttempts: 2,
		Backoff:     retry.Constant{}, // retry at once, for a short story
	})
	if err != nil {
		return nil, nil, err
	}
	breaker, err := circuitbreaker.New(circuitbreaker.Config{
		Name: "inventory", Observer: obs, Clock: clk,
		ConsecutiveFailures: 2,
		OpenWait:            250 * time.Millisecond,
		OpenWaitMultiplier:  circuitbreaker.FixedOpenWait,
		OpenWaitJitter:      circuitbreaker.NoJitter,
		HalfOpenCalls:       1,
		HalfOpenSuccesses:   1,
	})
	if err != nil {
		return nil, nil, err
	}
	bh, err := bulkhead.New(bulkhead.Config{Name: "inventory", Observer: obs, MaxConcurrent: 4})
	if err != nil {
		return nil, nil, err
	}

	regB, err := tel.ObserveBreaker("inventory", breaker)
	if err != nil {
		return nil, nil, err
	}
	regH, err := tel.ObserveBulkhead("inventory", bh)
	if err != nil {
		_ = regB.Unregister()
		return nil, nil, err
	}
	observed := []interface{ Unregister() error }{regB, regH}
	return bulwark.Chain(tel.Trace("inventory"), retrier, tel.TraceAttempts(), breaker, bh), observed, nil
}

// exportMetrics reads every metric once and writes it to out.
func exportMetrics(ctx context.Context, out io.Writer, reader *sdkmetric.ManualReader) error {
	exporter, err := stdoutmetric.New(stdoutmetric.WithWriter(out))
	if err != nil {
		return err
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%s\n", metricsHeader)
	return exporter.Export(ctx, &rm)
}
