package otelbulwark

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Trace returns a Policy that runs each call in a span named name, of kind
// internal, with bulwark.name set to name. When the call fails, the span's
// status is Error with the error's text, and it gets error.type (see
// ErrorType), bulwark.rejected=true when a policy refused to run the call (an
// open breaker, a full bulkhead, a rate limit: the error matches
// circuitbreaker.ErrOpen, bulkhead.ErrFull or ratelimit.ErrLimited), and
// bulwark.retry_after (seconds) when the error says when to try again. A
// panic is recorded as an exception event and an Error status before it
// goes on to the caller.
//
// Put it first in a chain to trace the whole call, and TraceAttempts inside
// a retry or hedge to record each attempt in it:
//
//	bulwark.Chain(tel.Trace("inventory"), retrier, tel.TraceAttempts(), breaker)
//
// The span then gets bulwark.attempts, the number of attempts made. (Trace
// inside the retry instead gives each attempt a child span of its own.)
func (t *Telemetry) Trace(name string) bulwark.Policy {
	t.check()
	return &tracePolicy{tracer: t.tracer, name: name, start: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(nameKey.String(name)),
	}}
}

type tracePolicy struct {
	tracer trace.Tracer
	name   string
	start  []trace.SpanStartOption
}

// callState is what TraceAttempts counts for the Trace span around it.
type callState struct{ attempts atomic.Int64 }

type callStateKey struct{}

func (p *tracePolicy) Do(ctx context.Context, op func(context.Context) error) error {
	ctx, span := p.tracer.Start(ctx, p.name, p.start...)
	if !span.IsRecording() {
		defer span.End()
		return op(ctx)
	}
	st := &callState{}
	ctx = context.WithValue(ctx, callStateKey{}, st)
	return runInSpan(ctx, span, op, func() {
		if n := st.attempts.Load(); n > 0 {
			span.SetAttributes(attemptsKey.Int64(n))
		}
	})
}

// runInSpan runs op in span and ends the span: with before run first, the
// error's status and attributes when op fails, and the panic's when op
// panics (the panic then goes on).
func runInSpan(ctx context.Context, span trace.Span, op func(context.Context) error, before func()) error {
	defer func() {
		if r := recover(); r != nil {
			if before != nil {
				before()
			}
			span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
				semconv.ExceptionType("panic"), semconv.ExceptionMessage(fmt.Sprint(r))))
			span.SetStatus(codes.Error, "panic: "+fmt.Sprint(r))
			span.End()
			panic(r)
		}
	}()
	err := op(ctx)
	if before != nil {
		before()
	}
	if err != nil {
		span.SetAttributes(errorAttributes(err)...)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}

// errorAttributes describes err on a span or event: error.type, and
// bulwark.rejected and bulwark.retry_after where they apply.
func errorAttributes(err error) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 1, 3)
	attrs[0] = errorTypeKey.String(ErrorType(err))
	if rejected(err) {
		attrs = append(attrs, rejectedKey.Bool(true))
	}
	var hint interface{ RetryAfter() time.Duration }
	if errors.As(err, &hint) {
		attrs = append(attrs, retryAfterKey.Float64(hint.RetryAfter().Seconds()))
	}
	return attrs
}

// TraceAttempts returns a Policy that records each failed attempt of a
// call as an event, "bulwark.attempt.failed", on the span in the call's
// context, with bulwark.attempt (its number, from 1, when a Trace policy
// encloses it), exception.message and the attributes Trace gives a failed
// call. Place it inside a retry or hedge, below Trace (see Trace). Without
// a recording span it only runs the call.
func (t *Telemetry) TraceAttempts() bulwark.Policy {
	t.check()
	return attemptPolicy{}
}

type attemptPolicy struct{}

func (attemptPolicy) Do(ctx context.Context, op func(context.Context) error) error {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return op(ctx)
	}
	var n int64
	if st, ok := ctx.Value(callStateKey{}).(*callState); ok {
		n = st.attempts.Add(1)
	}
	err := op(ctx)
	if err != nil {
		attrs := errorAttributes(err)
		if n > 0 {
			attrs = append(attrs, attemptKey.Int64(n))
		}
		attrs = append(attrs, semconv.ExceptionMessage(err.Error()))
		span.AddEvent("bulwark.attempt.failed", trace.WithAttributes(attrs...))
	}
	return err
}
