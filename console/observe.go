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
// a kind is known it takes no lock: two lookups in small maps it never
// changes (a new kind copies them) and an atomic add. It never blocks the
// work that reported e. It makes the Console a bulwark.Observer.
func (c *Console) Observe(_ context.Context, e bulwark.Event) {
	c.check()
	c.events.count(e.Component(), e.Kind())
}

// eventCounts counts events and remembers, per count, the last sample its
// rate was computed from. The counters are found through counts, a map of
// maps by component and kind that is replaced, never changed, when a kind
// is first seen, so count reads it without a read lock's two atomic
// operations. Counting is most of what the console costs a service's
// calls (benchmarks/console/instructions).
type eventCounts struct {
	mu     sync.Mutex // serialises adding a kind
	counts atomic.Pointer[map[string]map[string]*counter]
}

type counter struct {
	n atomic.Uint64

	mu     sync.Mutex // guards the sample
	at     time.Time
	last   uint64
	perSec float64
}

func (ec *eventCounts) count(component, kind string) {
	if m := ec.counts.Load(); m != nil {
		if ctr := (*m)[component][kind]; ctr != nil {
			ctr.n.Add(1)
			return
		}
	}
	ec.mu.Lock()
	ctr := ec.add(component, kind)
	ec.mu.Unlock()
	ctr.n.Add(1)
}

// add returns the counter of (component, kind), making it if it is new;
// ec.mu is held.
func (ec *eventCounts) add(component, kind string) *counter {
	old := map[string]map[string]*counter{}
	if m := ec.counts.Load(); m != nil {
		old = *m
	}
	if ctr := old[component][kind]; ctr != nil {
		return ctr
	}
	next := make(map[string]map[string]*counter, len(old)+1)
	for comp, kinds := range old {
		next[comp] = kinds
	}
	kinds := make(map[string]*counter, len(old[component])+1)
	for k, ctr := range old[component] {
		kinds[k] = ctr
	}
	ctr := &counter{}
	kinds[kind] = ctr
	next[component] = kinds
	ec.counts.Store(&next)
	return ctr
}

// rates returns component's event counts and rates, by kind.
func (ec *eventCounts) rates(component string, now time.Time) []EventRate {
	var kinds map[string]*counter
	if m := ec.counts.Load(); m != nil {
		kinds = (*m)[component]
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
