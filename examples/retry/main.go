// Command retry shows the retry package at work in three short scenes:
//
//  1. A flaky call is retried with exponential backoff and full jitter until
//     it succeeds.
//  2. A retry storm: an inventory service goes down for three seconds while
//     clients keep calling it, each call allowed five attempts with no wait.
//     Without a retry budget the service receives five times its normal
//     load exactly when it can least take it; with one (10% of calls plus
//     5 retries a second) it receives little more than its normal load. The
//     table shows calls, attempts (the load the service sees), retries and
//     calls the budget refused to retry, second by second.
//  3. An order consumer: a handler wrapped by retry.Handler retries a
//     message that fails for a moment, and hands a malformed message, an
//     invalid one and one whose payment keeps timing out to a dead-letter
//     sink with the history of every attempt, instead of losing them or
//     retrying them forever.
//
// The whole run takes about six seconds:
//
//	go run ./examples/retry
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

func main() {
	if err := run(context.Background(), os.Stdout, clock.System); err != nil {
		fmt.Fprintln(os.Stderr, "retry example:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, clk clock.Clock) error {
	if err := flakyCall(ctx, out, clk); err != nil {
		return err
	}
	if err := storm(ctx, out, clk); err != nil {
		return err
	}
	return consumer(ctx, out, clk)
}

var errReset = errors.New("connection reset by peer")

// flakyCall is scene 1.
func flakyCall(ctx context.Context, out io.Writer, clk clock.Clock) error {
	fmt.Fprintln(out, "1. A flaky call, retried with exponential backoff and full jitter")
	r, err := retry.New(retry.Config{
		MaxAttempts: 5,
		Backoff:     retry.Exponential{Initial: 50 * time.Millisecond, Multiplier: 2, Jitter: retry.FullJitter},
		MaxDelay:    time.Second,
		Clock:       clk,
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if r, ok := e.(retry.Retried); ok {
				fmt.Fprintf(out, "   attempt %d failed (%v); retrying in %v\n", r.Attempt, r.Err, r.Delay.Round(time.Millisecond))
			}
		}),
	})
	if err != nil {
		return err
	}
	calls := 0
	err = r.Do(ctx, func(context.Context) error {
		if calls++; calls <= 3 {
			return errReset
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   attempt %d succeeded\n\n", calls)
	return nil
}

const (
	stormTick     = 10 * time.Millisecond
	callsPerTick  = 4
	stormSeconds  = 5
	downFromSec   = 1
	downUntilSec  = 4
	stormAttempts = 5
)

var errUnavailable = errors.New("inventory: 503 service unavailable")

// stormStats counts one second of one client population.
type stormStats struct{ calls, attempts, retries, rejected int }

// storm is scene 2: two populations of clients call the same kind of
// service, one through a Retrier without a budget, one with.
func storm(ctx context.Context, out io.Writer, clk clock.Clock) error {
	fmt.Fprintf(out, "2. A retry storm: inventory is down from %ds to %ds; %d calls a second, %d attempts each, no wait\n",
		downFromSec, downUntilSec, callsPerTick*int(time.Second/stormTick), stormAttempts)
	start := clk.Now()
	second := func() int { return min(int(clk.Now().Sub(start)/time.Second), stormSeconds-1) }
	var plain, budgeted [stormSeconds]stormStats

	newRetrier := func(stats *[stormSeconds]stormStats, budget *retry.Budget) (*retry.Retrier, error) {
		return retry.New(retry.Config{
			MaxAttempts: stormAttempts,
			Backoff:     retry.Constant{},
			Budget:      budget,
			Clock:       clk,
			Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				switch e := e.(type) {
				case retry.Retried:
					stats[second()].retries++
				case retry.GaveUp:
					if errors.Is(e.Reason, retry.ErrBudgetExhausted) {
						stats[second()].rejected++
					}
				}
			}),
		})
	}
	budget, err := retry.NewBudget(retry.BudgetConfig{Ratio: 0.1, MinPerSecond: 5, Window: 10 * time.Second, Clock: clk})
	if err != nil {
		return err
	}
	withoutBudget, err := newRetrier(&plain, nil)
	if err != nil {
		return err
	}
	withBudget, err := newRetrier(&budgeted, budget)
	if err != nil {
		return err
	}
	// inventory returns an op for one population's copy of the service.
	inventory := func(stats *[stormSeconds]stormStats) func(context.Context) error {
		return func(context.Context) error {
			s := second()
			stats[s].attempts++
			if s >= downFromSec && s < downUntilSec {
				return errUnavailable
			}
			return nil
		}
	}
	plainOp, budgetedOp := inventory(&plain), inventory(&budgeted)

	// Calls go out every stormTick on a fixed schedule, whatever the time
	// they take.
	for tick := 1; ; tick++ {
		s := second()
		for range callsPerTick {
			plain[s].calls++
			_ = withoutBudget.Do(ctx, plainOp)
			budgeted[s].calls++
			_ = withBudget.Do(ctx, budgetedOp)
		}
		next := start.Add(time.Duration(tick) * stormTick)
		if next.Sub(start) >= stormSeconds*time.Second {
			break
		}
		if err := clock.Sleep(ctx, clk, next.Sub(clk.Now())); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "                  without a budget         |  with a budget (10% of calls + 5/s)")
	fmt.Fprintln(out, "   second  state   calls attempts retries  |  calls attempts retries refused")
	for s := range stormSeconds {
		state := "up"
		if s >= downFromSec && s < downUntilSec {
			state = "DOWN"
		}
		p, b := plain[s], budgeted[s]
		fmt.Fprintf(out, "   %d-%ds    %-5s %6d %8d %7d  | %6d %8d %7d %7d\n",
			s, s+1, state, p.calls, p.attempts, p.retries, b.calls, b.attempts, b.retries, b.rejected)
	}
	var pDown, bDown, callsDown int
	for s := downFromSec; s < downUntilSec; s++ {
		pDown += plain[s].attempts
		bDown += budgeted[s].attempts
		callsDown += plain[s].calls
	}
	fmt.Fprintf(out, "   while inventory was down it received %.1fx its normal load without a budget, %.2fx with one\n\n",
		float64(pDown)/float64(callsDown), float64(bDown)/float64(callsDown))
	return nil
}

// order is the message scene 3's consumer handles.
type order struct {
	ID       int `json:"id"`
	Quantity int `json:"qty"`
}

var (
	errInvalid = errors.New("invalid order")
	errTimeout = errors.New("payment: timeout")
)

// consumer is scene 3.
func consumer(ctx context.Context, out io.Writer, clk clock.Clock) error {
	fmt.Fprintln(out, "3. An order consumer: retry, then dead-letter what cannot succeed")
	r, err := retry.New(retry.Config{
		MaxAttempts: 3,
		Backoff:     retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.NoJitter},
		// An invalid order will be just as invalid next time.
		RetryIf: func(err error) bool { return !errors.Is(err, errInvalid) },
		Clock:   clk,
	})
	if err != nil {
		return err
	}
	var deadLetters retry.MemorySink[string]
	attempts := map[int]int{} // per order ID
	runs := 0                 // of the handler, for the current message
	handle := retry.Handler(r, &deadLetters, func(ctx context.Context, msg string) error {
		runs++
		var o order
		if err := json.Unmarshal([]byte(msg), &o); err != nil {
			return retry.Permanent(fmt.Errorf("decode: %w", err))
		}
		if o.Quantity <= 0 {
			return fmt.Errorf("%w: quantity %d", errInvalid, o.Quantity)
		}
		attempts[o.ID]++
		switch {
		case o.ID == 3 && attempts[o.ID] == 1:
			return errTimeout // a blip: the retry succeeds
		case o.ID == 5:
			return errTimeout // payment is stuck for this one
		}
		return nil
	})

	start := clk.Now()
	messages := []string{
		`{"id":1,"qty":2}`,
		`{"id":2,"qty":`,
		`{"id":3,"qty":1}`,
		`{"id":4,"qty":-5}`,
		`{"id":5,"qty":1}`,
	}
	for _, msg := range messages {
		runs = 0
		before := deadLetters.Len()
		if err := handle(ctx, msg); err != nil {
			return fmt.Errorf("message %s was not handled: %w", msg, err)
		}
		outcome := "processed"
		if deadLetters.Len() > before {
			outcome = "dead-lettered"
		}
		fmt.Fprintf(out, "   %-18s acknowledged after %d attempt(s): %s\n", msg, runs, outcome)
	}
	fmt.Fprintf(out, "   the dead-letter sink holds %d of %d messages, each with its error and attempts:\n", deadLetters.Len(), len(messages))
	for _, letter := range deadLetters.Letters() {
		fmt.Fprintf(out, "   %-18s %v\n", letter.Item, letter.Err)
		for _, a := range letter.Attempts {
			line := fmt.Sprintf("attempt %d at +%v: %v", a.Number, a.Start.Sub(start).Round(time.Millisecond), a.Err)
			if a.Delay > 0 {
				line += fmt.Sprintf("; next in %v", a.Delay)
			}
			fmt.Fprintf(out, "   %18s %s\n", "", line)
		}
	}
	return nil
}
