package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/saga"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The flow's tracing (tracing.go). Every service of the run has a
// TracerProvider of its own, whose resource names it (service.name shop,
// orders, relay, processor, payments, inventory, notifications; gateway
// once it runs), and all of them feed the same span processors: an
// in-memory recorder, always, which the ledger's trace check and the
// waterfall read; and, with -otlp, a batch processor exporting to an OTLP
// collector over HTTP. Trace context travels as W3C trace context: in the
// traceparent header of every HTTP request (the shop's and the processor's
// transports inject it, every server extracts it) and in the headers of
// every outbox message (the order service injects it in the transaction
// that writes the order; the relay's TracePublisher and the processor's
// ConsumeMiddleware carry it on).
//
// One order's trace:
//
//	shop       POST /orders                       client, the root: one per send
//	orders     POST /orders                       server, one per attempt; the one that wrote the order has order.id
//	relay      publish orders.created             producer
//	processor  process orders.created             consumer
//	processor  saga order: reserve-inventory      one per invocation of a step's action or compensation
//	processor  POST /reservations                 client
//	inventory  POST /reservations                 server
//	…

// traceScope is the instrumentation scope of the example's own spans.
const traceScope = "github.com/bulwark-go/bulwark/examples/orderflow"

// orderIDKey is the attribute naming the order a span worked on.
const orderIDKey = attribute.Key("order.id")

// tracing is the run's tracing. A nil *tracing traces nothing and
// propagates nothing (the processor's unit tests run without one).
type tracing struct {
	prop     propagation.TextMapPropagator
	recorder *spanRecorder
	batch    sdktrace.SpanProcessor // to the OTLP exporter; nil without -otlp
	otlp     string

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
}

// newTracing starts the run's tracing; otlp, when not "", is the OTLP/HTTP
// endpoint spans are exported to as well: host:port (plain HTTP, path
// /v1/traces) or a URL.
func newTracing(otlp string) (*tracing, error) {
	tr := &tracing{
		prop:      propagation.TraceContext{},
		recorder:  &spanRecorder{},
		otlp:      otlp,
		providers: map[string]*sdktrace.TracerProvider{},
	}
	if otlp != "" {
		opt := otlptracehttp.WithEndpoint(otlp)
		if strings.Contains(otlp, "://") {
			opt = otlptracehttp.WithEndpointURL(otlp)
		}
		opts := []otlptracehttp.Option{opt, otlptracehttp.WithTimeout(5 * time.Second)}
		if !strings.HasPrefix(otlp, "https://") {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		exp, err := otlptracehttp.New(context.Background(), opts...)
		if err != nil {
			return nil, fmt.Errorf("-otlp %s: %w", otlp, err)
		}
		tr.batch = sdktrace.NewBatchSpanProcessor(exp, sdktrace.WithBatchTimeout(time.Second), sdktrace.WithMaxQueueSize(1<<16))
	}
	return tr, nil
}

// provider returns the TracerProvider of the named service, made on first
// use.
func (tr *tracing) provider(service string) trace.TracerProvider {
	if tr == nil {
		return noop.NewTracerProvider()
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tp, ok := tr.providers[service]; ok {
		return tp
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(shared{tr.recorder}),
	}
	if tr.batch != nil {
		opts = append(opts, sdktrace.WithSpanProcessor(shared{tr.batch}))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	tr.providers[service] = tp
	return tp
}

func (tr *tracing) tracer(service string) trace.Tracer {
	return tr.provider(service).Tracer(traceScope)
}

// propagator is W3C trace context; nil propagates nothing.
func (tr *tracing) propagator() propagation.TextMapPropagator {
	if tr == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return tr.prop
}

// telemetry returns an otelbulwark.Telemetry whose spans are the named
// service's.
func (tr *tracing) telemetry(service string) (*otelbulwark.Telemetry, error) {
	return otelbulwark.New(otelbulwark.Config{TracerProvider: tr.provider(service), Propagator: tr.propagator()})
}

// close exports what is left (with -otlp) and stops the exporter.
func (tr *tracing) close() error {
	if tr == nil || tr.batch == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.batch.Shutdown(ctx); err != nil {
		return fmt.Errorf("exporting the spans to %s: %w", tr.otlp, err)
	}
	return nil
}

// describe says where the spans go, for the story.
func (tr *tracing) describe() string {
	if tr.otlp == "" {
		return "kept in memory (-otlp ADDR exports them to a collector too)"
	}
	return "kept in memory and exported over OTLP/HTTP to " + tr.otlp
}

// shared is a span processor that several providers share: a provider's
// Shutdown leaves it running; tracing.close stops it once.
type shared struct{ sdktrace.SpanProcessor }

func (shared) Shutdown(context.Context) error { return nil }

// spanRecord is what the recorder keeps of an ended span.
type spanRecord struct {
	Trace, ID, Parent string // hex; Parent is "" for a root
	Service, Name     string
	Kind              trace.SpanKind
	Start, End        time.Time
	Order             string // the order.id attribute, if any
	Failed            bool   // its status is Error
}

// spanRecorder is a span processor that keeps every ended span of the run,
// and counts the spans started and not yet ended.
type spanRecorder struct {
	mu    sync.Mutex
	open  int
	spans []spanRecord
}

func (r *spanRecorder) OnStart(context.Context, sdktrace.ReadWriteSpan) {
	r.mu.Lock()
	r.open++
	r.mu.Unlock()
}

func (r *spanRecorder) OnEnd(s sdktrace.ReadOnlySpan) {
	rec := spanRecord{
		Trace: s.SpanContext().TraceID().String(), ID: s.SpanContext().SpanID().String(),
		Name: s.Name(), Kind: s.SpanKind(), Start: s.StartTime(), End: s.EndTime(),
		Failed: s.Status().Code == codes.Error,
	}
	if p := s.Parent(); p.IsValid() {
		rec.Parent = p.SpanID().String()
	}
	if v, ok := s.Resource().Set().Value("service.name"); ok {
		rec.Service = v.AsString()
	}
	for _, a := range s.Attributes() {
		if a.Key == orderIDKey {
			rec.Order = a.Value.AsString()
		}
	}
	r.mu.Lock()
	r.open--
	r.spans = append(r.spans, rec)
	r.mu.Unlock()
}

func (r *spanRecorder) Shutdown(context.Context) error   { return nil }
func (r *spanRecorder) ForceFlush(context.Context) error { return nil }

// recorded waits up to limit for the spans in flight to end (a consumer
// span ends once its message is acked, a moment after its saga ended), and
// returns the spans recorded and how many are still open.
func (tr *tracing) recorded(ctx context.Context, limit time.Duration) ([]spanRecord, int) {
	if tr == nil {
		return nil, 0
	}
	r := tr.recorder
	deadline := time.Now().Add(limit)
	for {
		r.mu.Lock()
		open := r.open
		spans := append([]spanRecord(nil), r.spans...)
		r.mu.Unlock()
		if open == 0 || time.Now().After(deadline) || !sleepUntil(ctx, time.Now().Add(20*time.Millisecond)) {
			return spans, open
		}
	}
}

// handler runs each request to next in a server span of service, child of
// the trace context the request's headers carry.
func (tr *tracing) handler(service string, next http.Handler) http.Handler {
	if tr == nil {
		return next
	}
	tracer := tr.tracer(service)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := tr.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// transport sends each request through next in a client span of service,
// child of the request context's span (a root span when there is none:
// the shop's orders), with the span's trace context in the traceparent
// header. next's retries and hedges all carry it.
func (tr *tracing) transport(service string, next http.RoundTripper) http.RoundTripper {
	if tr == nil {
		return next
	}
	return &tracingTransport{tr: tr, tracer: tr.tracer(service), next: next}
}

type tracingTransport struct {
	tr     *tracing
	tracer trace.Tracer
	next   http.RoundTripper
}

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	attrs := []attribute.KeyValue{attribute.String("http.request.method", req.Method), attribute.String("server.address", req.URL.Host)}
	if k := req.Header.Get(bulwarkhttp.HeaderIdempotencyKey); k != "" {
		attrs = append(attrs, attribute.String("idempotency.key", k))
	}
	ctx, span := t.tracer.Start(req.Context(), req.Method+" "+req.URL.Path, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	req = req.Clone(ctx)
	t.tr.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		span.RecordError(err)
		span.SetStatus(codes.Error, otelbulwark.ErrorType(err))
	case resp.StatusCode >= 400:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		span.SetStatus(codes.Error, resp.Status)
	default:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	return resp, err
}

// enqueue returns enqueue with the trace context of its ctx injected into
// each message's headers, and the message's key (the order) set as the
// order.id of ctx's span: the order service's server span that wrote it.
func (tr *tracing) enqueue(enqueue enqueueFunc) enqueueFunc {
	if tr == nil {
		return enqueue
	}
	tel, err := tr.telemetry("orders")
	if err != nil {
		panic(err) // otelbulwark.New fails only on a failing meter; the global one does not
	}
	return func(ctx context.Context, tx *sql.Tx, msgs ...outbox.Message) error {
		for i := range msgs {
			trace.SpanFromContext(ctx).SetAttributes(orderIDKey.String(msgs[i].Key))
			tel.Inject(ctx, &msgs[i])
		}
		return enqueue(ctx, tx, msgs...)
	}
}

// traceparent returns the W3C traceparent of ctx's span, "" without one.
func (tr *tracing) traceparent(ctx context.Context) string {
	if tr == nil {
		return ""
	}
	c := propagation.MapCarrier{}
	tr.prop.Inject(ctx, c)
	return c["traceparent"]
}

// traceSaga returns def with each step's action and compensation run in a
// span of the processor's, "saga order: <step>" (and "… compensation"),
// one per invocation, child of the context's span: the span of the
// message that started the saga. An orchestrator resuming a saga without
// one (after a crash or a takeover) takes the trace context the order
// carries (Order.Trace).
func (tr *tracing) traceSaga(def saga.Definition[Order]) saga.Definition[Order] {
	if tr == nil {
		return def
	}
	tracer := tr.tracer("processor")
	wrap := func(fn func(context.Context, *Order, saga.Invocation) error) func(context.Context, *Order, saga.Invocation) error {
		if fn == nil {
			return nil
		}
		return func(ctx context.Context, o *Order, inv saga.Invocation) error {
			if !trace.SpanContextFromContext(ctx).IsValid() && o.Trace != "" {
				ctx = tr.prop.Extract(ctx, propagation.MapCarrier{"traceparent": o.Trace})
			}
			name := "saga " + def.Name + ": " + inv.Step
			if inv.Compensation {
				name += " compensation"
			}
			ctx, span := tracer.Start(ctx, name, trace.WithAttributes(orderIDKey.String(o.ID),
				attribute.String("saga.id", inv.SagaID), attribute.String("saga.step", inv.Step),
				attribute.Bool("saga.compensation", inv.Compensation), attribute.Int("saga.attempt", inv.Attempt)))
			defer span.End()
			err := fn(ctx, o, inv)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, otelbulwark.ErrorType(err))
			}
			return err
		}
	}
	steps := make([]saga.Step[Order], len(def.Steps))
	for i, s := range def.Steps {
		s.Action, s.Compensate = wrap(s.Action), wrap(s.Compensate)
		steps[i] = s
	}
	def.Steps = steps
	return def
}

// traceServices are the services every accepted order's trace crosses,
// whatever became of its saga.
var traceServices = []string{"shop", "gateway", "orders", "relay", "processor"}

// sagaServices are the services the saga of an order that ended so called
// besides: a completed order reserved, was charged, shipped and notified;
// a compensated one had its reservation released (even one whose
// reservation never went through: the release says so).
var sagaServices = map[saga.Status][]string{
	saga.Completed:   {"inventory", "payments", "notifications"},
	saga.Compensated: {"inventory"},
}

// sagaStepSpans are the step spans an order's trace holds for each end.
var sagaStepSpans = map[saga.Status][]string{
	saga.Completed:   {"saga order: " + stepReserve, "saga order: " + stepCharge, "saga order: " + stepShip, "saga order: " + stepNotify},
	saga.Compensated: {"saga order: " + stepReserve, "saga order: " + stepReserve + " compensation"},
}

// orderTraces returns the trace of each order: the trace of the order
// service's span that wrote it (order.id), and the orders written in more
// than one trace.
func orderTraces(spans []spanRecord) (map[string]string, []string) {
	traces := map[string]string{}
	var twice []string
	for _, s := range spans {
		if s.Service != "orders" || s.Order == "" {
			continue
		}
		if t, ok := traces[s.Order]; ok && t != s.Trace {
			twice = append(twice, s.Order)
		}
		traces[s.Order] = s.Trace
	}
	return traces, twice
}

// traceCheck is the ledger's check of the traces: every accepted order
// has a trace, holding spans of every service it crossed (traceServices
// and, by the end of its saga, sagaServices) and of its saga's steps; no
// span of the run names a parent that is not in its trace; every span
// ended.
func traceCheck(f facts) Check {
	byTrace := map[string]map[string]bool{} // trace → span IDs
	services := map[string]map[string]bool{}
	names := map[string]map[string]bool{}
	for _, s := range f.traces {
		if byTrace[s.Trace] == nil {
			byTrace[s.Trace], services[s.Trace], names[s.Trace] = map[string]bool{}, map[string]bool{}, map[string]bool{}
		}
		byTrace[s.Trace][s.ID] = true
		services[s.Trace][s.Service] = true
		names[s.Trace][s.Name] = true
	}
	var broken []string
	for _, s := range f.traces {
		if s.Parent != "" && !byTrace[s.Trace][s.Parent] {
			broken = append(broken, fmt.Sprintf("%s's %q (parent %s not in trace %s)", s.Service, s.Name, s.Parent, s.Trace))
		}
	}
	traces, twice := orderTraces(f.traces)
	var untraced, incomplete []string
	complete := 0
	for order := range f.orderKey {
		t, ok := traces[order]
		if !ok {
			untraced = append(untraced, order)
			continue
		}
		var missing []string
		for _, svc := range append(slices.Clone(traceServices), sagaServices[f.sagas[order]]...) {
			if !services[t][svc] {
				missing = append(missing, svc)
			}
		}
		for _, name := range sagaStepSpans[f.sagas[order]] {
			if !names[t][name] {
				missing = append(missing, fmt.Sprintf("%q", name))
			}
		}
		if len(missing) > 0 {
			incomplete = append(incomplete, order+" lacks "+strings.Join(missing, ", "))
			continue
		}
		complete++
	}
	return Check{
		Promise: "the trace of every order is complete",
		OK:      len(untraced) == 0 && len(incomplete) == 0 && len(broken) == 0 && len(twice) == 0 && f.openSpans == 0 && len(f.orderKey) > 0,
		Detail: fmt.Sprintf("%d of %d orders' traces hold every service they crossed and their saga's steps (%d spans in %d traces); orders without a trace: %s; incomplete: %s; broken parent links: %s; orders written in two traces: %s; spans never ended: %d",
			complete, len(f.orderKey), len(f.traces), len(byTrace), list(untraced), list(incomplete), list(broken), list(twice), f.openSpans),
	}
}
