package otelbulwark_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestRetryHandlerCountsDeadLetters(t *testing.T) {
	r := newRig(t, false)
	rt, err := retry.New(retry.Config{Name: "mailer", Observer: r.tel, MaxAttempts: 2, Backoff: retry.Constant{}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &retry.MemorySink[string]{}
	handle := retry.Handler(rt, sink, func(_ context.Context, msg string) error {
		if msg == "poison" {
			return &statusError{422}
		}
		return nil
	})
	ctx := context.Background()
	for _, msg := range []string{"ok", "poison", "poison"} {
		if err := handle(ctx, msg); err != nil {
			t.Fatalf("handle(%q): %v", msg, err)
		}
	}
	wantCounter(t, r.collect(t), "bulwark.retry.dead_letters", "{message}",
		p(int64(2), attrName.String("mailer"), errorType.String("*otelbulwark_test.statusError")))
}

func TestProjectorRecordsBatchesFailuresAndSwitches(t *testing.T) {
	r := newRig(t, false)
	type deposited struct{ Amount int }
	reg := eventsource.NewRegistry(nil)
	if err := eventsource.Register[deposited](reg, "deposited", 1); err != nil {
		t.Fatal(err)
	}
	events := eventsource.NewMemoryStore()
	tries := 0
	projections := []cqrs.Projection[cqrs.NoTx]{{Name: "balances", Version: 1,
		Handle: func(_ context.Context, _ cqrs.NoTx, e eventsource.Event) error {
			if e.GlobalPosition == 2 {
				if tries++; tries == 1 {
					return &statusError{503}
				}
			}
			return nil
		}}}
	projector, err := cqrs.New(events, cqrs.NewMemoryStore(), projections, cqrs.Config{Name: "reads", Observer: r.tel,
		Backoff: retry.Constant{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	running := bulwark.Start(ctx, projector)
	for _, amount := range []int{10, 32} {
		data, err := reg.Encode(deposited{Amount: amount}, eventsource.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := events.Append(ctx, "account-1", eventsource.Any, data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := projector.WaitFor(ctx, "balances", res.GlobalPosition); err != nil {
			t.Fatal(err)
		}
	}
	if err := running.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	balances := []attribute.KeyValue{attrName.String("reads"),
		attribute.String("bulwark.cqrs.projection", "balances"), attribute.Int("bulwark.cqrs.version", 1)}
	got := r.collect(t)
	wantCounter(t, got, "bulwark.cqrs.applied_events", "{event}", p(int64(2), balances...))
	wantCounter(t, got, "bulwark.cqrs.failed_events", "{try}", p(int64(1), append(balances,
		errorType.String("*otelbulwark_test.statusError"), attribute.String("bulwark.cqrs.action", "retry"))...))
	wantCounter(t, got, "bulwark.cqrs.switches", "{switch}", p(int64(1), balances...))
	wantGauge(t, got, "bulwark.cqrs.position", "{event}", p(int64(2), balances...))
}

// brokenLimiter is a bulwarkhttp.Limiter whose store is out of reach.
type brokenLimiter struct{}

func (brokenLimiter) Allow(string) error { return &statusError{500} }

func TestHTTPMiddlewaresCountRejections(t *testing.T) {
	for _, keys := range []bool{false, true} {
		r := newRig(t, keys)
		full, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
		if err != nil {
			t.Fatal(err)
		}
		held, _ := full.TryAcquire()
		defer held.Release(nil)
		shedder, err := bulwarkhttp.NewShedder(full, bulwarkhttp.ShedderConfig{Name: "edge", Observer: r.tel})
		if err != nil {
			t.Fatal(err)
		}
		perClient, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: ratelimit.Config{
			Limit: 1, Period: time.Second, Clock: clocktest.New(epoch)}})
		if err != nil {
			t.Fatal(err)
		}
		client := func(req *http.Request) string { return req.Header.Get("X-Client") }
		limiter, err := bulwarkhttp.NewRateLimiter(perClient, bulwarkhttp.RateLimiterConfig{Name: "api", Observer: r.tel, Key: client})
		if err != nil {
			t.Fatal(err)
		}
		broken, err := bulwarkhttp.NewRateLimiter(brokenLimiter{}, bulwarkhttp.RateLimiterConfig{Name: "api", Observer: r.tel, Key: client})
		if err != nil {
			t.Fatal(err)
		}
		okHandler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
		serve := func(h http.Handler, clientKey string) int {
			req := httptest.NewRequest(http.MethodGet, "/orders", nil)
			req.Header.Set("X-Client", clientKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Code
		}
		if code := serve(shedder.Handler(okHandler), "alice"); code != http.StatusServiceUnavailable {
			t.Fatalf("shedder with its bulkhead full: %d", code)
		}
		serve(limiter.Handler(okHandler), "alice")
		if code := serve(limiter.Handler(okHandler), "alice"); code != http.StatusTooManyRequests {
			t.Fatalf("alice's second request: %d", code)
		}
		serve(broken.Handler(okHandler), "bob")

		alice := []attribute.KeyValue{attrName.String("api")}
		if keys {
			alice = append(alice, attrKey.String("alice"))
		}
		got := r.collect(t)
		wantCounter(t, got, "bulwark.http.shed_requests", "{request}",
			p(int64(1), attrName.String("edge"), errorType.String("bulkhead.ErrFull")))
		wantCounter(t, got, "bulwark.http.limited_requests", "{request}", p(int64(1), alice...))
		wantCounter(t, got, "bulwark.http.limiter_errors", "{request}",
			p(int64(1), attrName.String("api"), errorType.String("*otelbulwark_test.statusError")))
	}
}

// TestMeasurementsCarryTheCallersTrace checks that a measurement made from
// an event is linked to the trace of the work that caused it: the SDK's
// default exemplar filter keeps it for a sampled span.
func TestMeasurementsCarryTheCallersTrace(t *testing.T) {
	r := newRig(t, false)
	rt, err := retry.New(retry.Config{Name: "payments", Observer: r.tel, MaxAttempts: 2, Backoff: retry.Constant{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := r.tp.Tracer("test").Start(context.Background(), "checkout")
	_ = rt.Do(ctx, fail)
	span.End()
	m, ok := metricOf(t, r.collect(t), "bulwark.retry.retries", "{retry}")
	if !ok {
		return
	}
	sum := m.Data.(metricdata.Sum[int64])
	if len(sum.DataPoints) != 1 || len(sum.DataPoints[0].Exemplars) != 1 {
		t.Fatalf("retries: %+v, want one point with one exemplar", sum.DataPoints)
	}
	if got, want := sum.DataPoints[0].Exemplars[0].TraceID, span.SpanContext().TraceID(); string(got) != string(want[:]) {
		t.Errorf("exemplar of trace %x, want %x", got, want)
	}
}

// custom is an event of a type Telemetry does not know.
type custom struct{}

func (custom) Kind() string         { return "shop.custom" }
func (custom) Component() string    { return "cart" }
func (custom) LogValue() slog.Value { return slog.GroupValue(slog.Int("items", 3)) }

// TestEventsBecomeSpanEvents checks that every event observed with a
// recording span in its context is added to that span, with bulwark.name
// and its fields; that events of types Telemetry does not know are only
// that; and that without a recording span nothing is added.
func TestEventsBecomeSpanEvents(t *testing.T) {
	r := newRig(t, false)
	ctx, span := r.tp.Tracer("test").Start(context.Background(), "checkout")
	r.tel.Observe(ctx, retry.Retried{Name: "payments", Attempt: 2, Err: errDown, Delay: 1500 * time.Millisecond})
	r.tel.Observe(ctx, custom{})
	r.tel.Observe(context.Background(), retry.Retried{Name: "elsewhere", Attempt: 1, Err: errDown})
	span.End()

	ended := r.spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want 1", len(ended))
	}
	evs := ended[0].Events()
	if len(evs) != 2 {
		t.Fatalf("span events %+v, want 2", evs)
	}
	want := []struct {
		name  string
		attrs []attribute.KeyValue
	}{
		{"retry.retried", []attribute.KeyValue{attrName.String("payments"),
			attribute.Int64("bulwark.retry.retried.attempt", 2), attribute.Float64("bulwark.retry.retried.delay", 1.5),
			attribute.String("bulwark.retry.retried.error", errDown.Error())}},
		{"shop.custom", []attribute.KeyValue{attrName.String("cart"), attribute.Int64("bulwark.shop.custom.items", 3)}},
	}
	for i, w := range want {
		if evs[i].Name != w.name {
			t.Errorf("event %d: %q, want %q", i, evs[i].Name, w.name)
		}
		if got, want := attribute.NewSet(evs[i].Attributes...), attribute.NewSet(w.attrs...); !got.Equals(&want) {
			t.Errorf("event %s: %v, want %v", w.name, got.ToSlice(), want.ToSlice())
		}
	}
	wantCounter(t, r.collect(t), "bulwark.retry.retries", "{retry}",
		p(int64(1), attrName.String("payments"), attribute.Int("bulwark.retry.attempt", 2), errorType.String("*errors.errorString")),
		p(int64(1), attrName.String("elsewhere"), attribute.Int("bulwark.retry.attempt", 1), errorType.String("*errors.errorString")))
}
