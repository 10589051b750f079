package chaos_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/clock/clocktest"
)

// FuzzNew feeds New arbitrary faults and checks that it returns an error
// naming a Config field, or an Injector that behaves: on a fake clock each
// call waits exactly Latency or not at all, then panics with ErrPanic,
// returns ErrInjected without running op, or runs op — a fault with rate 0
// never happens and one with rate 1 always does; never another panic or a
// hang.
func FuzzNew(f *testing.F) {
	f.Add(0.0, 0.0, 0.0, int64(0), uint64(0))
	f.Add(1.0, 0.0, 1.0, int64(time.Second), uint64(1))
	f.Add(0.0, 1.0, 0.0, int64(0), uint64(2))
	f.Add(0.5, 0.5, 0.5, int64(math.MaxInt64), uint64(3))
	f.Add(0.6, 0.5, 0.0, int64(0), uint64(4))
	f.Add(math.NaN(), 0.0, 0.0, int64(0), uint64(5))
	f.Add(0.0, math.Inf(1), 0.0, int64(0), uint64(6))
	f.Add(0.0, 0.0, math.Inf(-1), int64(1), uint64(7))
	f.Add(0.0, 0.0, 0.5, int64(-1), uint64(8))
	f.Add(0.0, 0.0, 0.5, int64(0), uint64(9))
	f.Fuzz(func(t *testing.T, errorRate, panicRate, latencyRate float64, latency int64, seed uint64) {
		fc := clocktest.New(epoch)
		faults := chaos.Faults{ErrorRate: errorRate, PanicRate: panicRate, LatencyRate: latencyRate, Latency: time.Duration(latency)}
		inj, err := chaos.New(chaos.Config{Faults: faults, Seed: seed, Clock: fc})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "chaos: Config.") {
				t.Fatalf("error does not name the setting: %v", err)
			}
			return
		}
		var errs, panics, ran, delayed int
		for range 20 {
			start := fc.Now()
			done := make(chan any, 1)
			opRan := false
			go func() {
				defer func() {
					if v := recover(); v != nil {
						done <- v
					}
				}()
				done <- inj.Do(context.Background(), func(context.Context) error { opRan = true; return nil })
			}()
			var outcome any
			waiting := waitTimer(fc)
			select {
			case outcome = <-done:
				// No latency: release waitTimer's goroutine.
				release := fc.NewTimer(time.Hour)
				<-waiting
				release.Stop()
			case <-waiting:
				fc.Advance(faults.Latency)
				delayed++
				select {
				case outcome = <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("Do did not return after the latency")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Do neither returned nor waited")
			}
			if wait := fc.Now().Sub(start); wait != 0 && wait != faults.Latency {
				t.Fatalf("waited %v, Latency %v", wait, faults.Latency)
			}
			switch outcome {
			case nil:
				ran++
				if !opRan {
					t.Fatal("Do returned nil without running op")
				}
			case chaos.ErrInjected:
				errs++
			case chaos.ErrPanic:
				panics++
			default:
				t.Fatalf("Do ended with %v", outcome)
			}
		}
		for _, c := range []struct {
			name string
			n    int
			rate float64
		}{{"error", errs, errorRate}, {"panic", panics, panicRate}, {"latency", delayed, latencyRate}} {
			if (c.rate == 0 && c.n != 0) || (c.rate == 1 && c.n != 20) {
				t.Fatalf("%s rate %v, %d of 20 calls", c.name, c.rate, c.n)
			}
		}
	})
}

// waitTimer delivers once fc has a timer waiting.
func waitTimer(fc *clocktest.Fake) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		fc.BlockUntil(1)
		close(c)
	}()
	return c
}
