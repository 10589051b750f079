package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/bulkhead"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// bulkheadRejected counts a rejection in bulwark.bulkhead.rejected_calls:
// one atomic add once the series exists.
func (t *Telemetry) bulkheadRejected(e bulkhead.Rejected) {
	s := series{name: e.Name}
	if t.keys {
		s.key = e.Key
	}
	t.inst.bhRejected.inc(s)
}

// bulkheadLimitChanged counts a change of an adaptive limit in
// bulwark.bulkhead.limit_changes.
func (t *Telemetry) bulkheadLimitChanged(ctx context.Context, e bulkhead.LimitChanged) {
	direction := "increase"
	if e.To < e.From {
		direction = "decrease"
	}
	attrs := []attribute.KeyValue{bhDirectionKey.String(direction)}
	if t.keys && e.Key != "" {
		attrs = append(attrs, keyKey.String(e.Key))
	}
	t.inst.bhLimitChanges.Add(ctx, 1, with(e.Name, attrs...))
}

// ObserveBulkhead reports b when metrics are collected: the calls holding a
// permit (bulwark.bulkhead.active_calls), those waiting for one
// (queued_calls) and its current limit (bulwark.bulkhead.limit), with
// bulwark.name set to name. Unregister the returned registration when b is
// no longer used.
func (t *Telemetry) ObserveBulkhead(name string, b *bulkhead.Bulkhead) (metric.Registration, error) {
	t.check()
	opt := observeOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(in.bhActive, int64(b.InFlight()), opt...)
		o.ObserveInt64(in.bhQueued, int64(b.Waiting()), opt...)
		o.ObserveInt64(in.bhLimit, int64(b.Limit()), opt...)
		return nil
	}, in.bhActive, in.bhQueued, in.bhLimit)
}
