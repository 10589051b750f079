package otelbulwark

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/saga"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentSaga makes cfg's orchestrator record each invocation of a step's
// action or compensation in bulwark.saga.step.duration (on cfg.Clock, with
// bulwark.saga.step, bulwark.saga.compensation and, when it failed, the
// error.type of its error), count the sagas that start compensating
// (bulwark.saga.compensations, with the error.type of the cause) and those
// that reach a terminal status (bulwark.saga.outcomes, with
// bulwark.saga.status), each with bulwark.name set to name (the
// Definition's Name, say). The hooks cfg already has run after the
// recording.
func (t *Telemetry) InstrumentSaga(name string, cfg *saga.Config) {
	clk := clock.OrSystem(cfg.Clock)
	var started sync.Map // saga.Invocation → time.Time, for invocations under way
	stepAttrs := func(ev saga.StepEvent) []attribute.KeyValue {
		return []attribute.KeyValue{nameKey.String(name), sagaStepKey.String(ev.Step), sagaCompKey.Bool(ev.Compensation)}
	}
	ended := func(ev saga.StepEvent) {
		at, ok := started.LoadAndDelete(ev.Invocation)
		if !ok {
			return
		}
		attrs := stepAttrs(ev)
		if ev.Err != nil {
			attrs = append(attrs, errorTypeKey.String(ErrorType(ev.Err)))
		}
		t.inst.sagaStepDuration.Record(background, clk.Now().Sub(at.(time.Time)).Seconds(), metric.WithAttributes(attrs...))
	}
	onStarted, onCompleted, onFailed := cfg.OnStepStarted, cfg.OnStepCompleted, cfg.OnStepFailed
	onCompensating, onFinished := cfg.OnCompensating, cfg.OnFinished
	cfg.OnStepStarted = func(ev saga.StepEvent) {
		started.Store(ev.Invocation, clk.Now())
		if onStarted != nil {
			onStarted(ev)
		}
	}
	cfg.OnStepCompleted = func(ev saga.StepEvent) {
		ended(ev)
		if onCompleted != nil {
			onCompleted(ev)
		}
	}
	cfg.OnStepFailed = func(ev saga.StepEvent) {
		ended(ev)
		if onFailed != nil {
			onFailed(ev)
		}
	}
	cfg.OnCompensating = func(ev saga.SagaEvent) {
		t.inst.sagaCompensations.Add(background, 1, metric.WithAttributes(nameKey.String(name),
			errorTypeKey.String(ErrorType(ev.Err))))
		if onCompensating != nil {
			onCompensating(ev)
		}
	}
	cfg.OnFinished = func(ev saga.SagaEvent) {
		t.inst.sagaOutcomes.Add(background, 1, metric.WithAttributes(nameKey.String(name),
			sagaStatusKey.String(string(ev.Status))))
		if onFinished != nil {
			onFinished(ev)
		}
	}
}

// ObserveSagas reports the sagas of the definition named name in store that
// need attention (bulwark.saga.needs_attention) when metrics are collected,
// with bulwark.name set to name. Each collection lists those sagas
// (Store.List by name and status), with the collection's context; a failed
// read reports nothing and returns its error to the reader.
func (t *Telemetry) ObserveSagas(name string, store saga.Store) (metric.Registration, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("otelbulwark: ObserveSagas needs the definition's name")
	}
	opt := fixed(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		recs, err := store.List(ctx, saga.ListQuery{Name: name, Status: saga.NeedsAttention})
		if err != nil {
			return err
		}
		o.ObserveInt64(in.sagaNeedsAttention, int64(len(recs)), opt.observe...)
		return nil
	}, in.sagaNeedsAttention)
}
