package hedge_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/hedge"
)

// FuzzNew feeds New arbitrary settings and checks that it returns an error
// naming a Config field, or a Hedger that behaves: on a fake clock, a call
// whose first attempt is stuck starts its hedges after exactly the delay
// (never more than an hour), no more than MaxHedges of them, returns at the
// first success, and a call that fails fast starts no hedge; never a panic
// or a hang.
func FuzzNew(f *testing.F) {
	f.Add(int64(0), 0, 0.0, 0, false)
	f.Add(int64(hedge.NoDelay), 10, hedge.NoPercentile, 0, false)
	f.Add(int64(time.Hour), 1, 100.0, 1, true)
	f.Add(int64(time.Hour+1), 1, 50.0, 10, false)
	f.Add(int64(time.Millisecond), 11, 50.0, 10, false)
	f.Add(int64(time.Millisecond), -1, 50.0, 10, false)
	f.Add(int64(time.Millisecond), 2, math.NaN(), 10, false)
	f.Add(int64(time.Millisecond), 2, math.Inf(1), 10, false)
	f.Add(int64(time.Millisecond), 2, math.Inf(-1), 10, false)
	f.Add(int64(time.Millisecond), 2, 1e-300, 100000, false)
	f.Add(int64(-5), 2, 95.0, 100001, true)
	f.Fuzz(func(t *testing.T, delay int64, maxHedges int, percentile float64, window int, failFast bool) {
		fc := clocktest.New(epoch)
		var (
			mu     sync.Mutex
			hedges []hedge.Hedged
		)
		h, err := hedge.New(hedge.Config{
			Delay: time.Duration(delay), MaxHedges: maxHedges, Percentile: percentile, Window: window,
			AllIdempotent: true, Clock: fc,
			Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				mu.Lock()
				defer mu.Unlock()
				hedges = append(hedges, e.(hedge.Hedged))
			}),
		})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "hedge: Config.") {
				t.Fatalf("error does not name the setting: %v", err)
			}
			return
		}
		d := h.Delay()
		if d < 0 || d > time.Hour {
			t.Fatalf("delay %v outside [0, 1h]", d)
		}
		allowed := maxHedges
		if allowed == 0 {
			allowed = hedge.DefaultMaxHedges
		}
		errFast := errors.New("refused")
		var calls atomic.Int32
		done := make(chan error, 1)
		go func() {
			done <- h.Do(context.Background(), func(ctx context.Context) error {
				n := calls.Add(1)
				switch {
				case failFast:
					return errFast
				case n == 1:
					<-ctx.Done() // stuck until a hedge wins
					return ctx.Err()
				}
				return nil
			})
		}()
		if !failFast && d > 0 {
			fc.BlockUntil(1)
			fc.Advance(d)
		}
		select {
		case err := <-done:
			if failFast {
				if err != errFast || calls.Load() != 1 {
					t.Fatalf("a fast failure: %v after %d attempts", err, calls.Load())
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Do did not return (%d attempts so far)", calls.Load())
		}
		if n := int(calls.Load()); n < 2 || n > allowed+1 {
			t.Fatalf("%d attempts, MaxHedges %d", n, allowed)
		}
		for _, e := range hedges {
			if e.Delay != d {
				t.Fatalf("hedged after %v, delay %v", e.Delay, d)
			}
		}
	})
}
