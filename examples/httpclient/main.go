// Command httpclient shows an HTTP client that stays standing while the
// service it calls is flaky, then down, then back.
//
//	go run ./examples/httpclient
//
// A local inventory service runs for about nine seconds. A chaos injector
// makes it flaky at first (a fifth of its answers are 503s, and some
// requests stall for a second), then takes it down (every answer a 500),
// then switches off. Six client workers call it through a
// bulwarkhttp.Transport whose policy is the chain
//
//	retry → circuit breaker → bulkhead → timeout
//
// so each request is retried on 5xx (three attempts at most), each attempt
// passes the breaker, takes one of four bulkhead permits and may last 300ms;
// a rejection by the open breaker or the full bulkhead ends the request at
// once, without a retry.
// The program prints the service's phases and the breaker's changes of state
// as they happen, a line per second of what the client saw, and a summary.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/circuitbreaker"
)

func main() {
	if _, err := run(context.Background(), os.Stdout, defaultTimeline); err != nil {
		fmt.Fprintln(os.Stderr, "httpclient example:", err)
		os.Exit(1)
	}
}

// timeline is how long the service spends in each phase.
type timeline struct {
	flaky, down, recovered time.Duration
}

var defaultTimeline = timeline{flaky: 3 * time.Second, down: 2500 * time.Millisecond, recovered: 3500 * time.Millisecond}

func (tl timeline) total() time.Duration { return tl.flaky + tl.down + tl.recovered }

// report is what a run counted.
type report struct {
	outcomes tally
	retries  int64 // attempts the client retried
	served   int64 // requests the service received
	breaker  circuitbreaker.State
}

func run(ctx context.Context, out io.Writer, tl timeline) (report, error) {
	inv, err := startInventory()
	if err != nil {
		return report{}, err
	}
	defer inv.close()

	start := time.Now()
	var mu sync.Mutex // log is called from workers, timers and run
	log := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "%5.2fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	c, err := newClient(inv.url, log)
	if err != nil {
		return report{}, err
	}
	defer c.http.CloseIdleConnections()

	fmt.Fprintf(out, "%d workers call %s for %v through retry → breaker → bulkhead(%d) → timeout(%v)\n\n",
		workers, inv.url, tl.total().Round(time.Second), permits, attemptTimeout)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan outcome)
	done := c.work(ctx, results)

	inv.flaky()
	log("inventory is flaky: %.0f%% of answers are 503, %.0f%% of requests stall for 1s", 100*flakyErrors, 100*flakyStalls)
	down := time.AfterFunc(tl.flaky, func() {
		inv.down()
		log("inventory is down: every answer is 500")
	})
	defer down.Stop()
	back := time.AfterFunc(tl.flaky+tl.down, func() {
		inv.recover()
		log("inventory is back")
	})
	defer back.Stop()

	var (
		total, second tally
		retried       int64
		tick          = time.NewTicker(time.Second)
		end           = time.After(tl.total())
	)
	defer tick.Stop()
	for {
		select {
		case o := <-results:
			total.add(o)
			second.add(o)
		case <-tick.C:
			r := c.retries.Load()
			log("%s; %d retries", second, r-retried)
			second, retried = tally{}, r
		case <-end:
			cancel()
			for o := range drain(results, done) {
				total.add(o)
			}
			rep := report{outcomes: total, retries: c.retries.Load(), served: inv.requests.Load(), breaker: c.breaker.State()}
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(out, "\n%d requests: %s\n", total.requests(), total)
			fmt.Fprintf(out, "%d retries; the service saw %d requests; breaker %v at the end\n", rep.retries, rep.served, rep.breaker)
			return rep, nil
		}
	}
}

// drain collects the results still coming from workers until they are done.
func drain(results <-chan outcome, done <-chan struct{}) <-chan outcome {
	out := make(chan outcome)
	go func() {
		defer close(out)
		for {
			select {
			case o := <-results:
				out <- o
			case <-done:
				return
			}
		}
	}()
	return out
}
