package otelbulwark

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/saga"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// stepEnded records an invocation of a step's action or compensation in
// bulwark.saga.step.duration, with the step, whether it compensated and,
// when it failed, the error.type of its error.
func (t *Telemetry) stepEnded(ctx context.Context, name string, inv saga.Invocation, d time.Duration, err error) {
	attrs := []attribute.KeyValue{sagaStepKey.String(inv.Step), sagaCompKey.Bool(inv.Compensation)}
	if err != nil {
		attrs = append(attrs, errorTypeKey.String(ErrorType(err)))
	}
	t.inst.sagaStepDuration.Record(ctx, d.Seconds(), with(name, attrs...))
}

// compensating counts a saga that started compensating in
// bulwark.saga.compensations, with the error.type of the cause.
func (t *Telemetry) compensating(ctx context.Context, e saga.CompensationStarted) {
	t.inst.sagaCompensations.Add(ctx, 1, with(e.Orchestrator, errorTypeKey.String(ErrorType(e.Err))))
}

// sagaFinished counts a saga that reached a terminal status in
// bulwark.saga.outcomes.
func (t *Telemetry) sagaFinished(ctx context.Context, e saga.Finished) {
	t.inst.sagaOutcomes.Add(ctx, 1, with(e.Orchestrator, sagaStatusKey.String(string(e.Status))))
}

// ObserveSagas reports the sagas of the definition named name in store that
// need attention (bulwark.saga.needs_attention) when metrics are collected,
// with bulwark.name set to name. Each collection lists those sagas
// (Store.List by name and status), with the collection's context; a failed
// read reports nothing and returns its error to the reader. Unregister the
// returned registration when the store is no longer used.
func (t *Telemetry) ObserveSagas(name string, store saga.Store) (metric.Registration, error) {
	t.check()
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("otelbulwark: ObserveSagas needs the definition's name")
	}
	opt := observeOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		recs, err := store.List(ctx, saga.ListQuery{Name: name, Status: saga.NeedsAttention})
		if err != nil {
			return err
		}
		o.ObserveInt64(in.sagaNeedsAttention, int64(len(recs)), opt...)
		return nil
	}, in.sagaNeedsAttention)
}
