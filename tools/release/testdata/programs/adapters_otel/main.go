// release-check: run

// Command otel records a circuit breaker in OpenTelemetry metrics: the
// breaker trips, rejects a call, and the rejection is read back from an
// in-memory metric reader.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func main() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	tel, err := otelbulwark.New(otelbulwark.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		log.Fatal(err)
	}
	breaker, err := circuitbreaker.New(circuitbreaker.Config{Name: "inventory", ConsecutiveFailures: 1, Observer: tel})
	if err != nil {
		log.Fatal(err)
	}
	_ = breaker.Do(ctx, func(context.Context) error { return errors.New("inventory down") })
	if err := breaker.Do(ctx, func(context.Context) error { return nil }); !errors.Is(err, circuitbreaker.ErrOpen) {
		log.Fatalf("the open breaker let the call through: %v", err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "bulwark.circuitbreaker.rejected_calls" {
				fmt.Printf("%s = %d\n", m.Name, sum.DataPoints[0].Value)
				return
			}
		}
	}
	log.Fatal("no bulwark.circuitbreaker.rejected_calls metric")
}
