package gateway

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestSpansAreSkippedOnlyOnNoopProviders(t *testing.T) {
	sdk := sdktrace.NewTracerProvider()
	defer sdk.Shutdown(context.Background())
	g := &Gateway{}
	g.setTracer(noop.NewTracerProvider())
	if g.spans() {
		t.Error("spans on a noop.TracerProvider")
	}
	g.setTracer(sdk)
	if !g.spans() {
		t.Error("no spans on an SDK TracerProvider")
	}
	if _, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider); !ok {
		// The global provider while none is set: no spans (the test that
		// sets one, and sees spans start, is in telemetry_test.go).
		g.setTracer(nil)
		if g.tracing != tracingUntilSet || g.spans() {
			t.Errorf("the unset global provider (%T) is not recognised as a no-op", otel.GetTracerProvider())
		}
	}
}

func TestNewRequestIDIsAVersion4UUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || strings.Count(id, "-") != 4 {
			t.Fatalf("request id %q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("request id %q made twice", id)
		}
		seen[id] = true
	}
}
