package otelbulwark_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/outbox"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// FuzzMessageCarrier feeds arbitrary headers, as a broker may deliver them,
// to the carrier and the propagator: extracting never panics and yields a
// remote span context or none, and a set header reads back under any case
// and replaces the keys that differ from it only in case.
func FuzzMessageCarrier(f *testing.F) {
	f.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate", "k=v")
	f.Add("Traceparent", "00-00000000000000000000000000000000-0000000000000000-00", "baggage", "tenant=acme")
	f.Add("TRACEPARENT", "ff-zz", "", "")
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		msg := outbox.Message{Headers: map[string]string{k1: v1, k2: v2}}
		c := otelbulwark.MessageCarrier{Message: &msg}
		if sc := trace.SpanContextFromContext(prop.Extract(context.Background(), c)); sc.IsValid() && !sc.IsRemote() {
			t.Fatalf("extracted a span context not marked remote: %v", sc)
		}
		c.Set(k1, "x")
		if got := c.Get(strings.ToUpper(k1)); got != "x" && strings.EqualFold(k1, strings.ToUpper(k1)) {
			t.Fatalf("Get(%q) after Set(%q) = %q", strings.ToUpper(k1), k1, got)
		}
		n := 0
		for _, k := range c.Keys() {
			if strings.EqualFold(k, k1) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d keys equal to %q but for case after Set", n, k1)
		}
	})
}
