package otelbulwark_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
)

// TestZeroTelemetryPanicsClearly: a Telemetry not made by New panics with a
// message that says so from every method, instead of dereferencing a nil
// meter deep inside, or quietly recording nothing.
func TestZeroTelemetryPanicsClearly(t *testing.T) {
	const want = "otelbulwark: Telemetry used without New"
	ctx := context.Background()
	br, err := circuitbreaker.New(circuitbreaker.Config{})
	must(t, err)
	kb, err := circuitbreaker.NewKeyed(circuitbreaker.KeyedConfig[string]{})
	must(t, err)
	bh, err := bulkhead.New(bulkhead.Config{})
	must(t, err)
	hg, err := hedge.New(hedge.Config{})
	must(t, err)
	relay, err := outbox.NewRelay(outbox.NewMemoryStore(), outbox.NewMemoryPublisher(), outbox.Config{})
	must(t, err)
	msg := outbox.NewMessage("t", "k", nil)
	event := retry.Retried{Name: "r", Attempt: 1}
	for name, call := range map[string]func(tel *otelbulwark.Telemetry){
		"Observe":             func(tel *otelbulwark.Telemetry) { tel.Observe(ctx, event) },
		"ObserveBreaker":      func(tel *otelbulwark.Telemetry) { _, _ = tel.ObserveBreaker("b", br) },
		"ObserveKeyedBreaker": func(tel *otelbulwark.Telemetry) { _, _ = otelbulwark.ObserveKeyedBreaker(tel, "k", kb) },
		"ObserveBulkhead":     func(tel *otelbulwark.Telemetry) { _, _ = tel.ObserveBulkhead("b", bh) },
		"ObserveHedger":       func(tel *otelbulwark.Telemetry) { _, _ = tel.ObserveHedger("h", hg) },
		"ObserveRelay":        func(tel *otelbulwark.Telemetry) { _, _ = tel.ObserveRelay("r", relay) },
		"ObserveSagas":        func(tel *otelbulwark.Telemetry) { _, _ = tel.ObserveSagas("s", saga.NewMemoryStore()) },
		"Inject":              func(tel *otelbulwark.Telemetry) { tel.Inject(ctx, &msg) },
		"Extract":             func(tel *otelbulwark.Telemetry) { _ = tel.Extract(ctx, msg) },
		"TracePublisher":      func(tel *otelbulwark.Telemetry) { _ = tel.TracePublisher(outbox.NewMemoryPublisher()) },
		"Consume": func(tel *otelbulwark.Telemetry) {
			_ = tel.Consume(ctx, msg, func(context.Context) error { return nil })
		},
		"ConsumeMiddleware": func(tel *otelbulwark.Telemetry) { _ = tel.ConsumeMiddleware() },
		"Trace":             func(tel *otelbulwark.Telemetry) { _ = tel.Trace("t") },
		"TraceAttempts":     func(tel *otelbulwark.Telemetry) { _ = tel.TraceAttempts() },
	} {
		if got := panicValue(func() { call(new(otelbulwark.Telemetry)) }); got != want {
			t.Errorf("%s on a zero Telemetry: panic %v, want %q", name, got, want)
		}
		if got := panicValue(func() { call(nil) }); got != want {
			t.Errorf("%s on a nil Telemetry: panic %v, want %q", name, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// panicValue runs f and returns what it panicked with, or nil.
func panicValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
