// Command circuitbreaker shows a circuit breaker in front of a dependency
// that goes down for a while and comes back.
//
//	go run ./examples/circuitbreaker
//
// A client calls an inventory service every 20ms for three seconds. The
// service fails every call from 0.5s to 1.6s. The breaker opens once half of
// its last 10 calls failed, rejects calls without reaching the service while
// open, probes it after a wait that doubles while it stays down, and closes
// once two probes succeed. Every change of state is printed as it happens,
// and a summary at the end.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/clock"
)

const (
	interval  = 20 * time.Millisecond
	runFor    = 3 * time.Second
	downFrom  = 500 * time.Millisecond
	downUntil = 1600 * time.Millisecond
)

var errUnavailable = errors.New("inventory: 503 service unavailable")

func main() {
	if err := run(context.Background(), os.Stdout, clock.System); err != nil {
		fmt.Fprintln(os.Stderr, "circuitbreaker example:", err)
		os.Exit(1)
	}
}

// inventory is the flaky dependency: down between downFrom and downUntil.
type inventory struct {
	clk   clock.Clock
	start time.Time
}

func (s inventory) reserve(context.Context) error {
	if up := s.clk.Now().Sub(s.start); up >= downFrom && up < downUntil {
		return errUnavailable
	}
	return nil
}

func run(ctx context.Context, out io.Writer, clk clock.Clock) error {
	start := clk.Now()
	elapsed := func() string { return fmt.Sprintf("%5.2fs", clk.Now().Sub(start).Seconds()) }
	service := inventory{clk: clk, start: start}

	const probes = 3
	openSince := time.Time{}
	report := func(c circuitbreaker.StateChange) {
		switch c.To {
		case circuitbreaker.StateOpen:
			openSince = clk.Now()
			if c.From == circuitbreaker.StateClosed {
				fmt.Fprintf(out, "%s  breaker %v -> %v: %d of the last %d calls failed\n", elapsed(), c.From, c.To, c.Metrics.Failures, c.Metrics.Calls)
			} else {
				fmt.Fprintf(out, "%s  breaker %v -> %v: %d of %d probes failed, still down\n", elapsed(), c.From, c.To, c.Metrics.ProbeFailures, c.Metrics.ProbesAdmitted)
			}
		case circuitbreaker.StateHalfOpen:
			fmt.Fprintf(out, "%s  breaker %v -> %v: letting %d probe calls through\n", elapsed(), c.From, c.To, probes)
		case circuitbreaker.StateClosed:
			fmt.Fprintf(out, "%s  breaker %v -> %v: %d probes succeeded, back to normal\n", elapsed(), c.From, c.To, c.Metrics.ProbeSuccesses)
		}
	}
	cfg := circuitbreaker.Config{
		Name:                 "inventory",
		Window:               circuitbreaker.LastCalls(10),
		MinimumCalls:         10,
		FailureRateThreshold: 50,
		OpenWait:             300 * time.Millisecond,
		OpenWaitMultiplier:   2,
		MaxOpenWait:          time.Second,
		OpenWaitJitter:       circuitbreaker.NoJitter, // for a repeatable story; keep some in production
		HalfOpenCalls:        probes,
		HalfOpenSuccesses:    2,
		Clock:                clk,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(circuitbreaker.StateChange); ok {
				report(c)
			}
		}),
	}
	breaker, err := circuitbreaker.New(cfg)
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "calling inventory every %v for %v; it is down from %v to %v\n\n", interval, runFor, downFrom, downUntil)
	var succeeded, failed, rejected int
	wasDown := false
	for range int(runFor / interval) {
		if down := service.reserve(ctx) != nil; down != wasDown {
			wasDown = down
			if down {
				fmt.Fprintf(out, "%s  inventory goes down\n", elapsed())
			} else {
				fmt.Fprintf(out, "%s  inventory is back up\n", elapsed())
			}
		}
		err := breaker.Do(ctx, service.reserve)
		var open *circuitbreaker.OpenError
		switch {
		case errors.As(err, &open):
			if rejected++; !openSince.IsZero() {
				fmt.Fprintf(out, "%s  calls rejected at once, without reaching inventory, for the next %v\n", elapsed(), open.RetryAfter().Round(time.Millisecond))
				openSince = time.Time{}
			}
		case err != nil:
			failed++
		default:
			succeeded++
		}
		if err := clock.Sleep(ctx, clk, interval); err != nil {
			return err
		}
	}
	m := breaker.Metrics()
	fmt.Fprintf(out, "\n%d calls: %d succeeded, %d failed at inventory, %d rejected by the breaker (Metrics.Rejected = %d); breaker %v\n",
		succeeded+failed+rejected, succeeded, failed, rejected, m.Rejected, m.State)
	return nil
}
