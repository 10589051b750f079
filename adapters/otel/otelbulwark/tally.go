package otelbulwark

import (
	"context"
	"sync"
	"sync/atomic"
	"weak"

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

func (t *tally) inc() { t.n.Add(1) }

// tallies holds the tallies of one counter instrument. It holds them
// weakly: the hooks that bump a tally keep it alive, and it is dropped
// once the pattern and its hooks are gone.
type tallies struct {
	inst metric.Int64ObservableCounter
	mu   sync.Mutex
	live []weak.Pointer[tally]
}

// add returns a new tally of the series bulwark.name=name and more.
func (ts *tallies) add(name string, more ...attribute.KeyValue) *tally {
	t := &tally{attrs: fixed(name, more...).observe}
	ts.mu.Lock()
	ts.live = append(ts.live, weak.Make(t))
	ts.mu.Unlock()
	return t
}

// observe reports every live tally that has counted something, and
// forgets those whose pattern is gone.
func (ts *tallies) observe(o metric.Observer) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	kept := ts.live[:0]
	for _, w := range ts.live {
		t := w.Value()
		if t == nil {
			continue
		}
		kept = append(kept, w)
		if n := t.n.Load(); n > 0 {
			o.ObserveInt64(ts.inst, n, t.attrs...)
		}
	}
	clear(ts.live[len(kept):])
	ts.live = kept
}

// keyedTallies are the tallies of one keyed pattern's series, one per key.
type keyedTallies struct {
	ts    *tallies
	name  string
	more  []attribute.KeyValue
	byKey sync.Map // string → *tally
}

func (k *keyedTallies) get(key string) *tally {
	if t, ok := k.byKey.Load(key); ok {
		return t.(*tally)
	}
	t, _ := k.byKey.LoadOrStore(key, k.ts.add(k.name, append(k.more[:len(k.more):len(k.more)], keyKey.String(key))...))
	return t.(*tally)
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
