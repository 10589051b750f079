package otelbulwark_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// attrs returns a span's or event's attributes by key.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// onlySpan returns the one span the rig recorded.
func (r *rig) onlySpan(t *testing.T) sdktrace.ReadOnlySpan {
	t.Helper()
	ended := r.spans.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want 1", len(ended))
	}
	return ended[0]
}

func TestTraceSuccess(t *testing.T) {
	r := newRig(t, false)
	ctx, parent := r.tp.Tracer("test").Start(context.Background(), "request")
	var inner trace.SpanContext
	err := r.tel.Trace("inventory").Do(ctx, func(ctx context.Context) error {
		inner = trace.SpanContextFromContext(ctx)
		return nil
	})
	parent.End()
	if err != nil {
		t.Fatal(err)
	}
	ended := r.spans.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans, want 2", len(ended))
	}
	s := ended[0]
	if s.Name() != "inventory" || s.SpanKind() != trace.SpanKindInternal {
		t.Errorf("span %q of kind %v, want \"inventory\", internal", s.Name(), s.SpanKind())
	}
	if s.Parent().SpanID() != parent.SpanContext().SpanID() || !s.SpanContext().Equal(inner) {
		t.Error("the span is not the caller's span's child, or op does not run in it")
	}
	if s.Status().Code != codes.Unset || len(s.Events()) != 0 {
		t.Errorf("status %v, events %v; want unset, none", s.Status(), s.Events())
	}
	if a := attrs(s.Attributes()); len(a) != 1 || a["bulwark.name"].AsString() != "inventory" {
		t.Errorf("attributes %v, want bulwark.name alone", a)
	}
}

func TestTraceFailures(t *testing.T) {
	clk := clocktest.New(epoch)
	cfg := testBreakerConfig(clk)
	cfg.Name = "inventory"
	open, err := circuitbreaker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	open.ForceOpen()
	for _, tc := range []struct {
		name       string
		policy     bulwark.Policy
		op         func(context.Context) error
		errorType  string
		rejected   bool
		retryAfter float64
	}{
		{"op fails", nil, fail, "*errors.errorString", false, 0},
		{"typed error", nil, func(context.Context) error { return &statusError{500} }, "*otelbulwark_test.statusError", false, 0},
		{"breaker open", open, ok, "circuitbreaker.ErrOpen", true, 10},
		{"caller cancelled", nil, func(context.Context) error { return context.Canceled }, "context.Canceled", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, false)
			p := bulwark.Chain(r.tel.Trace("inventory"))
			if tc.policy != nil {
				p = bulwark.Chain(r.tel.Trace("inventory"), tc.policy)
			}
			err := p.Do(context.Background(), tc.op)
			if err == nil {
				t.Fatal("Do succeeded")
			}
			s := r.onlySpan(t)
			if s.Status().Code != codes.Error || s.Status().Description != err.Error() {
				t.Errorf("status %+v, want Error %q", s.Status(), err)
			}
			a := attrs(s.Attributes())
			if got := a["error.type"].AsString(); got != tc.errorType {
				t.Errorf("error.type %q, want %q", got, tc.errorType)
			}
			if v, ok := a["bulwark.rejected"]; ok != tc.rejected || (ok && !v.AsBool()) {
				t.Errorf("bulwark.rejected %v (set %v), want set: %v", v.AsBool(), ok, tc.rejected)
			}
			if v, ok := a["bulwark.retry_after"]; (tc.retryAfter != 0) != ok || v.AsFloat64() != tc.retryAfter {
				t.Errorf("bulwark.retry_after %v (set %v), want %v", v.AsFloat64(), ok, tc.retryAfter)
			}
		})
	}
}

func TestTraceAttemptsRecordsRetries(t *testing.T) {
	r := newRig(t, false)
	rt, err := retry.New(retry.Config{MaxAttempts: 4, Backoff: retry.Constant{}})
	if err != nil {
		t.Fatal(err)
	}
	p := bulwark.Chain(r.tel.Trace("payments"), rt, r.tel.TraceAttempts())
	n := 0
	err = p.Do(context.Background(), func(context.Context) error {
		switch n++; n {
		case 1:
			return &statusError{503}
		case 2:
			return errDown
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := r.onlySpan(t)
	if s.Status().Code != codes.Unset {
		t.Errorf("status %v, want unset: the call succeeded", s.Status())
	}
	if got := attrs(s.Attributes())["bulwark.attempts"].AsInt64(); got != 3 {
		t.Errorf("bulwark.attempts %d, want 3", got)
	}
	events := s.Events()
	if len(events) != 2 {
		t.Fatalf("%d events, want 2: %v", len(events), events)
	}
	for i, want := range []struct {
		errorType, message string
	}{{"*otelbulwark_test.statusError", "status 503"}, {"*errors.errorString", errDown.Error()}} {
		e := events[i]
		a := attrs(e.Attributes)
		if e.Name != "bulwark.attempt.failed" || a["bulwark.attempt"].AsInt64() != int64(i+1) ||
			a["error.type"].AsString() != want.errorType || a["exception.message"].AsString() != want.message {
			t.Errorf("event %d: %s %v, want bulwark.attempt.failed, attempt %d, %s, %q", i, e.Name, a, i+1, want.errorType, want.message)
		}
	}
}

func TestTraceInsideARetryGivesEachAttemptASpan(t *testing.T) {
	r := newRig(t, false)
	rt, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}})
	if err != nil {
		t.Fatal(err)
	}
	p := bulwark.Chain(r.tel.Trace("payments"), rt, r.tel.Trace("payments attempt"))
	_ = p.Do(context.Background(), fail)
	ended := r.spans.Ended()
	if len(ended) != 3 {
		t.Fatalf("%d spans, want 3", len(ended))
	}
	outer := ended[2]
	for _, s := range ended[:2] {
		if s.Name() != "payments attempt" || s.Parent().SpanID() != outer.SpanContext().SpanID() || s.Status().Code != codes.Error {
			t.Errorf("attempt span %q, parent %v, status %v", s.Name(), s.Parent().SpanID(), s.Status())
		}
	}
	if a := attrs(outer.Attributes()); a["error.type"].AsString() != "*errors.errorString" {
		t.Errorf("outer span error.type %v: the last attempt's error's type, through the retry.Error", a["error.type"])
	}
}

func TestTraceRecordsAPanicAndLetsItGoOn(t *testing.T) {
	r := newRig(t, false)
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		_ = r.tel.Trace("inventory").Do(context.Background(), func(context.Context) error { panic("boom") })
	}()
	s := r.onlySpan(t)
	if s.Status().Code != codes.Error || s.Status().Description != "panic: boom" {
		t.Errorf("status %+v", s.Status())
	}
	if ev := s.Events(); len(ev) != 1 || ev[0].Name != "exception" || attrs(ev[0].Attributes)["exception.message"].AsString() != "boom" {
		t.Errorf("events %v, want one exception event", ev)
	}
}

func TestTraceWithoutARecordingSpanOnlyRunsTheCall(t *testing.T) {
	r := newRig(t, false)
	sampler := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(r.spans))
	defer sampler.Shutdown(context.Background())
	for _, tp := range []trace.TracerProvider{noop.NewTracerProvider(), sampler} {
		tel := newTelemetryWithTracer(t, tp)
		rt, _ := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}})
		n := 0
		err := bulwark.Chain(tel.Trace("x"), rt, tel.TraceAttempts()).Do(context.Background(), func(context.Context) error {
			if n++; n == 1 {
				return errDown
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Errorf("Do: %v after %d attempts, want nil after 2", err, n)
		}
		if err := tel.TraceAttempts().Do(context.Background(), fail); !errors.Is(err, errDown) {
			t.Errorf("TraceAttempts without a span: %v", err)
		}
	}
	if len(r.spans.Ended()) != 0 {
		t.Errorf("%d spans recorded, want none", len(r.spans.Ended()))
	}
}
