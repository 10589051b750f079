package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/saga"
)

// traceBuilder makes the spans of a test trace.
type traceBuilder struct {
	trace string
	next  int
	at    time.Time
	spans []spanRecord
}

// span adds a span of service under parent (its ID, "" for a root),
// starting off after the trace's start and lasting d; it returns its ID.
func (b *traceBuilder) span(parent, service, name string, off, d time.Duration) string {
	b.next++
	id := fmt.Sprintf("%s-%02d", b.trace, b.next)
	start := b.at.Add(off)
	b.spans = append(b.spans, spanRecord{Trace: b.trace, ID: id, Parent: parent, Service: service, Name: name, Start: start, End: start.Add(d)})
	return id
}

// orderTrace returns the trace of an order whose saga ended with st, as
// the flow records it.
func orderTrace(trace, order string, st saga.Status) []spanRecord {
	b := &traceBuilder{trace: trace, at: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
	ms := time.Millisecond
	root := b.span("", "shop", "POST /orders", 0, 4*ms)
	gw := b.span(root, "gateway", "POST place-order", ms/2, 3*ms)
	srv := b.span(gw, "orders", "POST /orders", ms, 2*ms)
	b.spans[len(b.spans)-1].Order = order
	pub := b.span(srv, "relay", "publish orders.created", 10*ms, ms)
	proc := b.span(pub, "processor", "process orders.created", 12*ms, 20*ms)
	call := func(off time.Duration, step, path, service string) {
		s := b.span(proc, "processor", "saga order: "+step, off, 4*ms)
		b.spans[len(b.spans)-1].Order = order
		c := b.span(s, "processor", "POST "+path, off+ms, 2*ms)
		b.span(c, service, "POST "+path, off+ms+ms/2, ms)
	}
	call(13*ms, stepReserve, "/reservations", "inventory")
	call(17*ms, stepCharge, "/charges", "payments")
	switch st {
	case saga.Completed:
		call(21*ms, stepShip, "/shipments", "inventory")
		call(25*ms, stepNotify, "/notifications", "notifications")
	case saga.Compensated:
		call(21*ms, stepReserve+" compensation", "/reservations/release", "inventory")
	}
	return b.spans
}

// tracedFacts is a run of three orders whose traces are complete:
// order-0001 and order-0003 completed, order-0002 compensated.
func tracedFacts() facts {
	f := facts{
		orderKey: map[string]string{"order-0001": "web-0001", "order-0002": "web-0002", "order-0003": "web-0003"},
		sagas:    map[string]saga.Status{"order-0001": saga.Completed, "order-0002": saga.Compensated, "order-0003": saga.Completed},
	}
	f.traces = append(f.traces, orderTrace("t1", "order-0001", saga.Completed)...)
	f.traces = append(f.traces, orderTrace("t2", "order-0002", saga.Compensated)...)
	f.traces = append(f.traces, orderTrace("t3", "order-0003", saga.Completed)...)
	return f
}

func TestTraceCheckPassesCompleteTraces(t *testing.T) {
	c := traceCheck(tracedFacts())
	if !c.OK {
		t.Fatalf("the trace check failed on complete traces: %s", c.Detail)
	}
	if !strings.Contains(c.Detail, "3 of 3 orders' traces") {
		t.Errorf("detail %q", c.Detail)
	}
}

// TestTraceCheckCatchesBrokenTraces breaks the traces in each way the
// check is there for.
func TestTraceCheckCatchesBrokenTraces(t *testing.T) {
	without := func(f *facts, drop func(spanRecord) bool) {
		f.traces = slices.DeleteFunc(f.traces, drop)
	}
	for _, tc := range []struct {
		name   string
		spoil  func(*facts)
		detail string
	}{
		{"an order has no trace", func(f *facts) {
			without(f, func(s spanRecord) bool { return s.Trace == "t3" })
		}, "orders without a trace: order-0003"},
		{"a service is missing", func(f *facts) {
			without(f, func(s spanRecord) bool { return s.Trace == "t1" && s.Service == "notifications" })
		}, "order-0001 lacks notifications"},
		{"the relay is missing (and the processor's span has lost its parent)", func(f *facts) {
			without(f, func(s spanRecord) bool { return s.Trace == "t2" && s.Service == "relay" })
		}, "order-0002 lacks relay"},
		{"a saga step is missing", func(f *facts) {
			without(f, func(s spanRecord) bool { return s.Trace == "t1" && s.Name == "saga order: "+stepShip })
		}, `order-0001 lacks "saga order: ship"`},
		{"the gateway is missing", func(f *facts) {
			without(f, func(s spanRecord) bool { return s.Trace == "t1" && s.Service == "gateway" })
		}, `order-0001 lacks gateway`},
		{"a compensated order's release is missing", func(f *facts) {
			without(f, func(s spanRecord) bool { return s.Trace == "t2" && strings.Contains(s.Name, "compensation") })
		}, `order-0002 lacks "saga order: reserve-inventory compensation"`},
		{"a span's parent is in another trace", func(f *facts) {
			for i, s := range f.traces {
				if s.Trace == "t3" && s.Service == "payments" {
					f.traces[i].Trace = "t9"
				}
			}
		}, `broken parent links: payments's "POST /charges" (parent t3-10 not in trace t9)`},
		{"an order was written in two traces", func(f *facts) {
			f.traces = append(f.traces, spanRecord{Trace: "t8", ID: "t8-01", Service: "orders", Name: "POST /orders", Order: "order-0001"})
		}, "orders written in two traces: order-0001"},
		{"a span never ended", func(f *facts) { f.openSpans = 2 }, "spans never ended: 2"},
		{"no order at all", func(f *facts) { *f = facts{} }, "0 of 0 orders"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tracedFacts()
			tc.spoil(&f)
			c := traceCheck(f)
			if c.OK {
				t.Fatalf("the check passed: %s", c.Detail)
			}
			if !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("detail %q does not say %q", c.Detail, tc.detail)
			}
		})
	}
}

func TestPickTraceTakesTheSimplestCompleteCompletedOrder(t *testing.T) {
	f := tracedFacts()
	// order-0001's trace has a retried step: one span more than
	// order-0003's, so order-0003 is the one to show.
	f.traces = append(f.traces, spanRecord{Trace: "t1", ID: "t1-99", Parent: "t1-04", Service: "processor", Name: "saga order: reserve-inventory"})
	if order, trace := pickTrace(f); order != "order-0003" || trace != "t3" {
		t.Errorf("picked %s (%s), want order-0003 (t3)", order, trace)
	}
	// An incomplete trace is never shown.
	f.traces = slices.DeleteFunc(f.traces, func(s spanRecord) bool { return s.Trace == "t3" && s.Service == "payments" })
	if order, _ := pickTrace(f); order != "order-0001" {
		t.Errorf("picked %s, want order-0001", order)
	}
	// A compensated order is never shown.
	f.traces = slices.DeleteFunc(f.traces, func(s spanRecord) bool { return s.Trace == "t1" && s.Service == "notifications" })
	if order, trace := pickTrace(f); order != "" || trace != "" {
		t.Errorf("picked %s (%s), want none", order, trace)
	}
}

func TestWaterfallDrawsTheTreeOnTheTimeLine(t *testing.T) {
	got := waterfall("order-0002", orderTrace("t2", "order-0002", saga.Compensated))
	want := `order-0002: trace t2, 14 spans across 7 services, 32ms
  service       span                                                     start  duration
  shop          POST /orders                                                0s       4ms |█████                                   |
  gateway         POST place-order                                       500µs       3ms |███                                     |
  orders            POST /orders                                           1ms       2ms | ██                                     |
  relay               publish orders.created                              10ms       1ms |            █                           |
  processor             process orders.created                            12ms      20ms |               █████████████████████████|
  processor               saga order: reserve-inventory                   13ms       4ms |                █████                   |
  processor                 POST /reservations                            14ms       2ms |                 ██                     |
  inventory                   POST /reservations                        14.5ms       1ms |                  █                     |
  processor               saga order: charge-payment                      17ms       4ms |                     █████              |
  processor                 POST /charges                                 18ms       2ms |                      ██                |
  payments                    POST /charges                             18.5ms       1ms |                       █                |
  processor               saga order: reserve-inventory compensation      21ms       4ms |                          █████         |
  processor                 POST /reservations/release                    22ms       2ms |                           ██           |
  inventory                   POST /reservations/release                22.5ms       1ms |                            █           |
`
	if got != want {
		t.Errorf("waterfall:\n%s\nwant:\n%s", got, want)
	}
}

func TestWaterfallDrawsAnOrphanAsARootAndMarksFailures(t *testing.T) {
	at := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	spans := []spanRecord{
		{Trace: "t", ID: "b", Parent: "gone", Service: "payments", Name: "POST /charges", Start: at.Add(time.Second), End: at.Add(2 * time.Second), Failed: true},
		{Trace: "t", ID: "a", Service: "shop", Name: "POST /orders", Start: at, End: at.Add(time.Second)},
	}
	got := waterfall("x", spans)
	want := `x: trace t, 2 spans across 2 services, 2s
  service       span              start  duration
  shop          POST /orders         0s        1s |████████████████████                    |
  payments      POST /charges        1s        1s |                    ████████████████████| ✗
`
	if got != want {
		t.Errorf("waterfall:\n%s\nwant:\n%s", got, want)
	}
}

// TestTraceExportOverOTLP checks -otlp without a collector: the spans of
// every service reach an OTLP/HTTP endpoint at /v1/traces by the time the
// tracing is closed, and the in-memory recorder keeps them too, with their
// service's name.
func TestTraceExportOverOTLP(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()

	tr, err := newTracing(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := tr.tracer("shop").Start(context.Background(), "POST /orders")
	_, child := tr.tracer("orders").Start(ctx, "POST /orders")
	child.End()
	root.End()
	if err := tr.close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) == 0 {
		t.Fatal("nothing was exported")
	}
	all := bytes.Join(bodies, nil)
	for _, s := range []string{"shop", "orders", "POST /orders"} {
		if !bytes.Contains(all, []byte(s)) {
			t.Errorf("the export does not hold %q", s)
		}
	}
	spans, open := tr.recorded(context.Background(), 0)
	if open != 0 || len(spans) != 2 || spans[0].Service != "orders" || spans[1].Service != "shop" || spans[0].Parent != spans[1].ID || spans[0].Trace != spans[1].Trace {
		t.Errorf("recorded %+v, %d open", spans, open)
	}
}

// TestTraceCarriedOverHTTP checks the client transport and the
// server handler: the server's span is a child of the client's, in the
// client's trace, and the client's span is a root.
func TestTraceCarriedOverHTTP(t *testing.T) {
	tr, err := newTracing("")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tr.handler("payments", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})))
	defer srv.Close()
	c := &http.Client{Transport: tr.transport("processor", http.DefaultTransport)}
	resp, err := c.Post(srv.URL+"/charges", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans, open := tr.recorded(context.Background(), time.Second)
	if open != 0 || len(spans) != 2 {
		t.Fatalf("recorded %+v, %d open", spans, open)
	}
	server, client := spans[0], spans[1]
	if server.Service != "payments" || client.Service != "processor" {
		server, client = client, server
	}
	if server.Name != "POST /charges" || server.Parent != client.ID || server.Trace != client.Trace || client.Parent != "" || !server.Failed || !client.Failed {
		t.Errorf("server %+v, client %+v", server, client)
	}
}

// TestTraceSagaStepsContinueTheOrdersTrace checks traceSaga: a step's span
// is a child of the context's span, and a saga resumed without one (after
// a takeover) continues the trace its order carries.
func TestTraceSagaStepsContinueTheOrdersTrace(t *testing.T) {
	tr, err := newTracing("")
	if err != nil {
		t.Fatal(err)
	}
	var ran int
	def := tr.traceSaga(saga.Definition[Order]{Name: "order", Steps: []saga.Step[Order]{{
		Name:   stepReserve,
		Action: func(context.Context, *Order, saga.Invocation) error { ran++; return nil },
		Compensate: func(context.Context, *Order, saga.Invocation) error {
			ran++
			return errors.New("inventory down")
		},
	}}})
	ctx, msg := tr.tracer("processor").Start(context.Background(), "process orders.created")
	o := &Order{ID: "order-0001", Trace: tr.traceparent(ctx)}
	msg.End()
	if err := def.Steps[0].Action(ctx, o, saga.Invocation{SagaID: o.ID, Step: stepReserve, Attempt: 1}); err != nil {
		t.Fatal(err)
	}
	// Resumed: no span in the context, the order's traceparent.
	if err := def.Steps[0].Compensate(context.Background(), o, saga.Invocation{SagaID: o.ID, Step: stepReserve, Compensation: true, Attempt: 1}); err == nil {
		t.Fatal("the compensation's error was lost")
	}
	spans, _ := tr.recorded(context.Background(), time.Second)
	if ran != 2 || len(spans) != 3 {
		t.Fatalf("ran %d, recorded %+v", ran, spans)
	}
	parent := spans[0]
	for _, s := range spans[1:] {
		if s.Trace != parent.Trace || s.Parent != parent.ID || s.Order != "order-0001" || s.Service != "processor" {
			t.Errorf("step span %+v is not the order's (%+v)", s, parent)
		}
	}
	if spans[1].Name != "saga order: reserve-inventory" || spans[1].Failed {
		t.Errorf("action span %+v", spans[1])
	}
	if spans[2].Name != "saga order: reserve-inventory compensation" || !spans[2].Failed {
		t.Errorf("compensation span %+v", spans[2])
	}
}
