package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/bulkhead"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentBulkhead makes cfg's bulkhead count the calls it rejects
// because it is full (bulwark.bulkhead.rejected_calls) and the changes of
// an adaptive limit (bulwark.bulkhead.limit_changes, with
// bulwark.bulkhead.direction "increase" or "decrease"), each with
// bulwark.name set to name and, for a keyed bulkhead (instrument its
// KeyedConfig's Config) with Config.Keys, bulwark.key. The hooks cfg already
// has run after the recording. Counting a rejection is one atomic add, read
// when metrics are collected.
func (t *Telemetry) InstrumentBulkhead(name string, cfg *bulkhead.Config) {
	rejected := t.rejectionTally(t.inst.bhRejected, name)
	onFull, onLimit := cfg.OnFull, cfg.OnLimitChange
	cfg.OnFull = func(key string) {
		rejected(key)
		if onFull != nil {
			onFull(key)
		}
	}
	cfg.OnLimitChange = func(key string, from, to int) {
		direction := "increase"
		if to < from {
			direction = "decrease"
		}
		attrs := []attribute.KeyValue{nameKey.String(name), bhDirectionKey.String(direction)}
		if t.keys && key != "" {
			attrs = append(attrs, keyKey.String(key))
		}
		t.inst.bhLimitChanges.Add(background, 1, metric.WithAttributes(attrs...))
		if onLimit != nil {
			onLimit(key, from, to)
		}
	}
}

// ObserveBulkhead reports b when metrics are collected: the calls holding a
// permit (bulwark.bulkhead.active_calls), those waiting for one
// (queued_calls) and its current limit (bulwark.bulkhead.limit), with
// bulwark.name set to name. Unregister the returned registration when b is
// no longer used.
func (t *Telemetry) ObserveBulkhead(name string, b *bulkhead.Bulkhead) (metric.Registration, error) {
	opt := fixed(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(in.bhActive, int64(b.InFlight()), opt.observe...)
		o.ObserveInt64(in.bhQueued, int64(b.Waiting()), opt.observe...)
		o.ObserveInt64(in.bhLimit, int64(b.Limit()), opt.observe...)
		return nil
	}, in.bhActive, in.bhQueued, in.bhLimit)
}
