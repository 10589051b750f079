package console

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
)

// Observe counts e by its component and kind, for the rates the console
// shows (a policy's rejections, retries, timeouts, injected faults). Once
// a kind is known it takes no lock: a search of a snapshot it never
// changes (a new kind replaces it) and an atomic add. It never blocks the
// work that reported e. It makes the Console a bulwark.Observer.
func (c *Console) Observe(_ context.Context, e bulwark.Event) {
	c.check()
	c.events.count(e.Component(), e.Kind())
}

// eventCounts counts events and remembers, per count, the last sample its
// rate was computed from. The counters are found through counts, a
// snapshot that is replaced, never changed, when a kind is first seen, so
// count reads it without a lock. Counting is most of what the console
// costs a service's calls (benchmarks/console/instructions), so a
// snapshot of up to scanLimit counters is searched in a slice, where a
// kind and component given as the same string constants as before compare
// by pointer and length, about half the instructions of a map lookup;
// beyond it, in maps by component then kind.
type eventCounts struct {
	mu     sync.Mutex // serialises adding a kind
	counts atomic.Pointer[countSnapshot]
}

const scanLimit = 16

type countSnapshot struct {
	list  []keyedCounter                 // every counter; searched while len(list) <= scanLimit
	byKey map[string]map[string]*counter // by component, then kind
}

type keyedCounter struct {
	kind, component string
	ctr             *counter
}

type counter struct {
	n atomic.Uint64

	mu     sync.Mutex // guards the sample
	at     time.Time
	last   uint64
	perSec float64
}

func (s *countSnapshot) find(component, kind string) *counter {
	if s == nil {
		return nil
	}
	if len(s.list) <= scanLimit {
		for i := range s.list {
			if k := &s.list[i]; k.kind == kind && k.component == component {
				return k.ctr
			}
		}
		return nil
	}
	return s.byKey[component][kind]
}

func (ec *eventCounts) count(component, kind string) {
	if ctr := ec.counts.Load().find(component, kind); ctr != nil {
		ctr.n.Add(1)
		return
	}
	ec.mu.Lock()
	ctr := ec.add(component, kind)
	ec.mu.Unlock()
	ctr.n.Add(1)
}

// add returns the counter of (component, kind), making it if it is new;
// ec.mu is held.
func (ec *eventCounts) add(component, kind string) *counter {
	old := ec.counts.Load()
	if ctr := old.find(component, kind); ctr != nil {
		return ctr
	}
	next := &countSnapshot{byKey: map[string]map[string]*counter{}}
	if old != nil {
		next.list = append(next.list, old.list...)
		for comp, kinds := range old.byKey {
			next.byKey[comp] = kinds
		}
	}
	kinds := make(map[string]*counter, len(next.byKey[component])+1)
	for k, ctr := range next.byKey[component] {
		kinds[k] = ctr
	}
	ctr := &counter{}
	kinds[kind] = ctr
	next.byKey[component] = kinds
	next.list = append(next.list, keyedCounter{kind: kind, component: component, ctr: ctr})
	ec.counts.Store(next)
	return ctr
}

// rates returns component's event counts and rates, by kind.
func (ec *eventCounts) rates(component string, now time.Time) []EventRate {
	var kinds map[string]*counter
	if s := ec.counts.Load(); s != nil {
		kinds = s.byKey[component]
	}
	out := make([]EventRate, 0, len(kinds))
	for kind, ctr := range kinds {
		n := ctr.n.Load()
		ctr.mu.Lock()
		if ctr.at.IsZero() {
			ctr.at, ctr.last = now, n
		} else if d := now.Sub(ctr.at); d >= time.Second {
			ctr.perSec = float64(n-ctr.last) / d.Seconds()
			ctr.at, ctr.last = now, n
		}
		out = append(out, EventRate{Kind: kind, Count: n, PerSecond: ctr.perSec})
		ctr.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
