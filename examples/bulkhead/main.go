// Command bulkhead shows what a bulkhead's limit does to a slow dependency
// under more load than it can serve, first with a fixed limit, then with an
// adaptive one.
//
//	go run ./examples/bulkhead
//
// The dependency has 20 workers and takes about 20ms a call: it serves
// 1,000 calls a second, and calls beyond 20 at once queue inside it. Callers
// offer it 2,000 calls a second for six seconds through a fixed bulkhead of
// 100 (a limit picked by guesswork, as they usually are), then for six
// seconds through an adaptive one (Gradient, with 100 as its ceiling).
//
// Both keep the dependency busy and turn the excess away at once, but the
// fixed bulkhead lets 100 calls in, so 80 of them wait in the dependency's
// queue and every caller waits about five times the service time. The
// adaptive bulkhead finds the dependency's knee, a little above its 20
// workers, from the latency it observes, and callers wait little more than
// the service time itself. Each second prints the limit, the calls accepted
// and rejected, and the mean latency of the calls that completed.
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/bulkhead"
)

const (
	workers     = 20
	serviceTime = 20 * time.Millisecond
	offered     = 2000 // calls a second: twice what the dependency serves
	phase       = 6 * time.Second
	ceiling     = 100
)

func main() {
	if _, err := run(context.Background(), os.Stdout, phase); err != nil {
		fmt.Fprintln(os.Stderr, "bulkhead example:", err)
		os.Exit(1)
	}
}

// dependency is the slow service: a fixed number of workers, and a queue
// (the goroutines blocked on slots, served in order) for calls beyond them.
type dependency struct {
	slots chan struct{}
}

func (d *dependency) call(ctx context.Context) error {
	select {
	case d.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-d.slots }()
	time.Sleep(time.Duration(float64(serviceTime) * (0.8 + 0.4*rand.Float64())))
	return nil
}

// counters are one second's worth of outcomes, from many goroutines.
type counters struct {
	accepted, rejected, completed, latency atomic.Int64
}

// result sums up a phase once its load has settled (its second half).
type result struct {
	Accepted, Rejected int64
	MeanLatency        time.Duration
}

// run offers the load through a fixed and then an adaptive bulkhead, for
// phaseLen each, printing a line a second to out.
func run(ctx context.Context, out io.Writer, phaseLen time.Duration) (map[string]result, error) {
	fixed, err := bulkhead.New(bulkhead.Config{MaxConcurrent: ceiling})
	if err != nil {
		return nil, err
	}
	adaptive, err := bulkhead.New(bulkhead.Config{MaxConcurrent: ceiling, Adaptive: bulkhead.DefaultGradient()})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "a dependency with %d workers and ~%v calls serves %d calls/s; offering %d calls/s for %v through each bulkhead\n",
		workers, serviceTime, int(time.Second/serviceTime)*workers, offered, phaseLen)
	results := map[string]result{}
	for _, p := range []struct {
		name string
		b    *bulkhead.Bulkhead
	}{{"fixed", fixed}, {"adaptive", adaptive}} {
		fmt.Fprintf(out, "\n%s bulkhead:\n", p.name)
		results[p.name] = offer(ctx, out, p.b, phaseLen)
	}
	fmt.Fprintf(out, "\nonce settled: fixed %d/s at %v; adaptive %d/s at %v\n",
		results["fixed"].Accepted, results["fixed"].MeanLatency.Round(time.Millisecond),
		results["adaptive"].Accepted, results["adaptive"].MeanLatency.Round(time.Millisecond))
	return results, ctx.Err()
}

// offer sends offered calls a second through b to a fresh dependency for
// phaseLen, printing each second, and sums up the second half.
func offer(ctx context.Context, out io.Writer, b *bulkhead.Bulkhead, phaseLen time.Duration) result {
	dep := &dependency{slots: make(chan struct{}, workers)}
	const tick = 10 * time.Millisecond
	ticksPerSecond := int(time.Second / tick)
	var (
		wg             sync.WaitGroup
		current        atomic.Pointer[counters]
		settled        result
		settledSeconds int64
		settledDone    int64
		settledLatency time.Duration
	)
	current.Store(new(counters))
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for n := 1; n <= int(phaseLen/tick) && ctx.Err() == nil; n++ {
		select {
		case <-ticker.C:
		case <-ctx.Done():
			continue
		}
		for range offered / ticksPerSecond {
			c := current.Load()
			wg.Add(1)
			go func() {
				defer wg.Done()
				began := time.Now()
				err := b.Do(ctx, func(ctx context.Context) error {
					c.accepted.Add(1)
					return dep.call(ctx)
				})
				if err != nil {
					c.rejected.Add(1)
					return
				}
				done := current.Load()
				done.completed.Add(1)
				done.latency.Add(int64(time.Since(began)))
			}()
		}
		if n%ticksPerSecond != 0 {
			continue
		}
		second := n / ticksPerSecond
		c := current.Swap(new(counters))
		var mean time.Duration
		if done := c.completed.Load(); done > 0 {
			mean = time.Duration(c.latency.Load() / done)
		}
		fmt.Fprintf(out, "  %2ds  limit %3d  accepted %4d  rejected %4d  mean latency %v\n",
			second, b.Limit(), c.accepted.Load(), c.rejected.Load(), mean.Round(time.Millisecond))
		if time.Duration(second)*time.Second > phaseLen/2 {
			settledSeconds++
			settled.Accepted += c.accepted.Load()
			settled.Rejected += c.rejected.Load()
			settledDone += c.completed.Load()
			settledLatency += time.Duration(c.latency.Load())
		}
	}
	wg.Wait()
	if settledSeconds > 0 {
		settled.Accepted /= settledSeconds
		settled.Rejected /= settledSeconds
	}
	if settledDone > 0 {
		settled.MeanLatency = settledLatency / time.Duration(settledDone)
	}
	return settled
}
