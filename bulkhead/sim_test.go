package bulkhead_test

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// The simulated dependency: a server with a number of workers and a FIFO
// queue. A call's latency is its wait in the queue plus a service time, so
// up to `workers` concurrent calls see the bare service time and every call
// beyond them adds queueing delay: the knee of its latency-versus-load curve
// sits at `workers`. Everything runs in simulated time on one goroutine: the
// fake clock is set to each event's time, so the run is exact and the same
// for the same seed.

// phase is a stretch of simulated time with its own server capacity and
// offered load.
type phase struct {
	length  time.Duration
	workers int           // the server's concurrency: its knee
	arrival float64       // calls offered per second (Poisson)
	service time.Duration // mean service time; 0 means serviceTime
}

// second is what one simulated second looked like from the caller's side.
type second struct {
	limit              int // the bulkhead's limit at the end of the second
	accepted, rejected int
	completed          int
	latency            time.Duration // mean latency of the calls completed in it
}

const serviceTime = 50 * time.Millisecond

type simCall struct {
	permit  bulkhead.Permit
	started time.Time
}

type simEvent struct {
	at   time.Time
	seq  int
	call *simCall // nil: an arrival
}

type eventQueue []simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simulate offers the phases' load to the server through b, whose clock must
// be fc, and returns one record per simulated second.
func simulate(t *testing.T, b *bulkhead.Bulkhead, fc *clocktest.Fake, seed uint64, phases []phase) []second {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	start := fc.Now()
	var (
		events  eventQueue
		seq     int
		queue   []*simCall // calls waiting for a worker
		busy    int
		workers int
		service time.Duration
		stats   []second
		latSum  []time.Duration
	)
	push := func(at time.Time, c *simCall) {
		seq++
		heap.Push(&events, simEvent{at: at, seq: seq, call: c})
	}
	serve := func(now time.Time) {
		for busy < workers && len(queue) > 0 {
			c := queue[0]
			queue = queue[1:]
			busy++
			// Service times vary by ±20% around the mean.
			push(now.Add(time.Duration(float64(service)*(0.8+0.4*rng.Float64()))), c)
		}
	}
	var end time.Duration
	for _, p := range phases {
		end += p.length
	}
	stats = make([]second, int(end/time.Second))
	latSum = make([]time.Duration, len(stats))
	phaseAt := func(d time.Duration) phase {
		for _, p := range phases {
			if d < p.length {
				return p
			}
			d -= p.length
		}
		return phases[len(phases)-1]
	}
	push(start, nil)
	for events.Len() > 0 {
		ev := heap.Pop(&events).(simEvent)
		elapsed := ev.at.Sub(start)
		if elapsed >= end {
			break
		}
		fc.Set(ev.at)
		sec := &stats[int(elapsed/time.Second)]
		p := phaseAt(elapsed)
		workers, service = p.workers, p.service
		if service == 0 {
			service = serviceTime
		}
		if ev.call == nil {
			push(ev.at.Add(time.Duration(rng.ExpFloat64()/p.arrival*float64(time.Second))), nil)
			if permit, ok := b.TryAcquire(); ok {
				sec.accepted++
				queue = append(queue, &simCall{permit: permit, started: ev.at})
			} else {
				sec.rejected++
			}
		} else {
			busy--
			ev.call.permit.Release(nil)
			sec.completed++
			latSum[int(elapsed/time.Second)] += ev.at.Sub(ev.call.started)
		}
		serve(ev.at)
		sec.limit = b.Limit()
	}
	for i := range stats {
		if stats[i].completed > 0 {
			stats[i].latency = latSum[i] / time.Duration(stats[i].completed)
		}
	}
	return stats
}

// window summarises the seconds [from, to).
func window(stats []second, from, to int) (limit float64, throughput float64, latency time.Duration) {
	var n, done int
	var lat time.Duration
	for _, s := range stats[from:to] {
		limit += float64(s.limit)
		done += s.completed
		lat += s.latency * time.Duration(s.completed)
		n++
	}
	return limit / float64(n), float64(done) / float64(n), lat / time.Duration(max(done, 1))
}

func logStats(t *testing.T, stats []second) {
	t.Helper()
	for i, s := range stats {
		t.Logf("t=%3ds limit=%3d accepted=%4d rejected=%4d latency=%v", i, s.limit, s.accepted, s.rejected, s.latency.Round(time.Millisecond))
	}
}
