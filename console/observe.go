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
// shows (a policy's rejections, retries, timeouts, injected faults). It
// takes a read lock and an atomic add once a kind is known, and never
// blocks the work that reported e. It makes the Console a
// bulwark.Observer.
func (c *Console) Observe(_ context.Context, e bulwark.Event) {
	c.check()
	c.events.count(e.Component(), e.Kind())
}

type eventKey struct{ component, kind string }

// eventCounts counts events and remembers, per count, the last sample its
// rate was computed from.
type eventCounts struct {
	mu     sync.RWMutex
	counts map[eventKey]*counter
}

type counter struct {
	n atomic.Uint64

	mu     sync.Mutex // guards the sample
	at     time.Time
	last   uint64
	perSec float64
}

func (ec *eventCounts) count(component, kind string) {
	k := eventKey{component, kind}
	ec.mu.RLock()
	ctr := ec.counts[k]
	ec.mu.RUnlock()
	if ctr == nil {
		ec.mu.Lock()
		if ctr = ec.counts[k]; ctr == nil {
			ctr = &counter{}
			ec.counts[k] = ctr
		}
		ec.mu.Unlock()
	}
	ctr.n.Add(1)
}

// rates returns component's event counts and rates, by kind.
func (ec *eventCounts) rates(component string, now time.Time) []EventRate {
	ec.mu.RLock()
	var kinds []string
	var ctrs []*counter
	for k, ctr := range ec.counts {
		if k.component == component {
			kinds, ctrs = append(kinds, k.kind), append(ctrs, ctr)
		}
	}
	ec.mu.RUnlock()
	out := make([]EventRate, len(kinds))
	for i, ctr := range ctrs {
		n := ctr.n.Load()
		ctr.mu.Lock()
		if ctr.at.IsZero() {
			ctr.at, ctr.last = now, n
		} else if d := now.Sub(ctr.at); d >= time.Second {
			ctr.perSec = float64(n-ctr.last) / d.Seconds()
			ctr.at, ctr.last = now, n
		}
		out[i] = EventRate{Kind: kinds[i], Count: n, PerSecond: ctr.perSec}
		ctr.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
