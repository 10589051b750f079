package otelbulwark

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// tally counts one series of a counter that can be bumped at request rate
// (the rejections of an overloaded or open dependency) with one atomic
// add, where a synchronous OpenTelemetry counter takes a lock and a map
// lookup: the count is read when metrics are collected.
type tally struct {
	n     atomic.Int64
	attrs []metric.ObserveOption
}

// series identifies a tally: the component's name, a label (the state of
// a breaker that rejected, the error.type of a shed request) and a key
// (only when the Telemetry records keys).
type series struct {
	name  string
	label string
	key   string
}

// tallies holds the tallies of one counter instrument, one per series.
// Finding the tally of a series seen before allocates nothing and writes
// no shared memory but the tally's count.
type tallies struct {
	inst     metric.Int64ObservableCounter
	labelKey attribute.Key // the attribute of series.label; "" for none
	series   sync.Map      // series → *tally
}

// inc counts one in the series s.
func (ts *tallies) inc(s series) {
	if t, ok := ts.series.Load(s); ok {
		t.(*tally).n.Add(1)
		return
	}
	attrs := []attribute.KeyValue{nameKey.String(s.name)}
	if ts.labelKey != "" {
		attrs = append(attrs, ts.labelKey.String(s.label))
	}
	if s.key != "" {
		attrs = append(attrs, keyKey.String(s.key))
	}
	t, _ := ts.series.LoadOrStore(s, &tally{attrs: []metric.ObserveOption{
		metric.WithAttributeSet(attribute.NewSet(attrs...))}})
	t.(*tally).n.Add(1)
}

// observe reports every series counted so far.
func (ts *tallies) observe(o metric.Observer) {
	ts.series.Range(func(_, v any) bool {
		t := v.(*tally)
		o.ObserveInt64(ts.inst, t.n.Load(), t.attrs...)
		return true
	})
}

// observeTallies registers the callback that reports every tally of
// tallied instruments.
func (t *Telemetry) observeTallies(all ...*tallies) error {
	insts := make([]metric.Observable, len(all))
	for i, ts := range all {
		insts[i] = ts.inst
	}
	_, err := t.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, ts := range all {
			ts.observe(o)
		}
		return nil
	}, insts...)
	return err
}
