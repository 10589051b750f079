package otelbulwark_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/ratelimit"
	"go.opentelemetry.io/otel/attribute"
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

// fuzzEvent is an event whose kind, component and one field come from the
// fuzzer.
type fuzzEvent struct{ kind, component, field, value string }

func (e fuzzEvent) Kind() string      { return e.kind }
func (e fuzzEvent) Component() string { return e.component }
func (e fuzzEvent) LogValue() slog.Value {
	return slog.GroupValue(slog.String(e.field, e.value), slog.Group("nested", slog.Any("error", errors.New(e.value))))
}

// FuzzObserve feeds arbitrary names, keys and event fields to Observe: it
// never panics, an event becomes one span event named by its kind with
// bulwark.name, and a rejection is counted once under its name and key.
func FuzzObserve(f *testing.F) {
	f.Add("shop.custom", "cart", "items", "3", "tenant-1")
	f.Add("", "", "", "", "")
	f.Add("x", "\x00\xff", "a.b", "ü", "key with spaces")
	f.Fuzz(func(t *testing.T, kind, component, field, value, key string) {
		r := newRig(t, true)
		ctx, span := r.tp.Tracer("fuzz").Start(context.Background(), "call")
		r.tel.Observe(ctx, fuzzEvent{kind, component, field, value})
		r.tel.Observe(ctx, ratelimit.Rejected{Name: component, Key: key})
		span.End()
		evs := r.spans.Ended()[0].Events()
		if len(evs) != 2 || evs[0].Name != kind || evs[1].Name != "ratelimit.rejected" {
			t.Fatalf("span events %+v", evs)
		}
		attrs := attribute.NewSet(evs[0].Attributes...)
		if name, ok := attrs.Value("bulwark.name"); !ok || name.AsString() != component {
			t.Fatalf("bulwark.name %q, want %q", name.AsString(), component)
		}
		series := []attribute.KeyValue{attrName.String(component)}
		if key != "" {
			series = append(series, attrKey.String(key))
		}
		wantCounter(t, r.collect(t), "bulwark.ratelimit.rejected_calls", "{call}", p(int64(1), series...))
	})
}
