package retry_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/cenkalti/backoff/v4"
)

// FuzzNew feeds New arbitrary settings and checks that it returns an error
// naming a Config field, or a Retrier that behaves: Do, driven on a fake
// clock against an op that fails a few times (with or without a RetryAfter
// hint, or as a rejection), never panics, never hangs, makes no more
// attempts than allowed and never waits longer than the cap.
func FuzzNew(f *testing.F) {
	const s = int64(time.Second)
	f.Add(0, int64(0), int64(0), int64(0), uint8(0), int64(0), 0.0, 0, false, int64(0), uint8(5))
	f.Add(retry.Unlimited, int64(0), s, int64(0), uint8(1), 3*s, 1.5, 1, false, int64(0), uint8(20))
	f.Add(3, 10*s, int64(0), s, uint8(1), s, math.NaN(), 0, false, int64(0), uint8(3))
	f.Add(3, int64(0), int64(0), int64(0), uint8(1), s, math.Inf(1), 0, false, int64(0), uint8(3))
	f.Add(3, int64(0), int64(0), int64(0), uint8(1), s, math.Inf(-1), 2, false, int64(0), uint8(3))
	f.Add(5, int64(0), int64(0), int64(0), uint8(1), int64(math.MaxInt64), 100.0, 2, false, int64(time.Hour), uint8(5))
	f.Add(1000000, int64(0), int64(math.MaxInt64), int64(0), uint8(2), int64(math.MaxInt64), 0.0, 0, true, int64(math.MaxInt64), uint8(8))
	f.Add(-3, int64(-1), int64(-1), int64(-1), uint8(3), int64(-1), -1.0, -1, true, int64(-1), uint8(2))
	f.Add(4, int64(0), int64(time.Millisecond), int64(0), uint8(3), 5*s, 0.0, 7, true, 2*s, uint8(4))
	f.Fuzz(func(t *testing.T, maxAttempts int, maxElapsed, maxDelay, attemptTimeout int64,
		kind uint8, d int64, mult float64, jitter int, retryRejected bool, hint int64, failures uint8) {
		var b retry.Backoff
		switch kind % 5 {
		case 0:
			b = nil
		case 1:
			b = retry.Exponential{Initial: time.Duration(d), Multiplier: mult, Jitter: retry.Jitter(jitter)}
		case 2:
			b = retry.Decorrelated{Base: time.Duration(d)}
		case 3:
			b = retry.Constant{Delay: time.Duration(d)}
		case 4:
			b = retry.BackOff{New: func() backoff.BackOff { return backoff.NewConstantBackOff(time.Duration(d)) }}
		}
		fc := clocktest.New(epoch)
		waits := make(chan time.Duration)
		cfg := retry.Config{
			MaxAttempts:    maxAttempts,
			MaxElapsedTime: time.Duration(maxElapsed),
			Backoff:        b,
			MaxDelay:       time.Duration(maxDelay),
			AttemptTimeout: time.Duration(attemptTimeout),
			RetryRejected:  retryRejected,
			Clock:          fc,
			Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				if r, ok := e.(retry.Retried); ok {
					waits <- r.Delay
				}
			}),
		}
		r, err := retry.New(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "retry: Config.") {
				t.Fatalf("error does not name the setting: %v", err)
			}
			return
		}
		limit := cfg.MaxDelay
		if limit == 0 {
			limit = retry.DefaultMaxDelay
		}
		allowed := maxAttempts
		switch allowed {
		case 0:
			allowed = retry.DefaultMaxAttempts
		case retry.Unlimited:
			allowed = math.MaxInt
		}
		fails := int(failures % 32)
		var opErr error = errTransient
		switch {
		case hint < 0:
			opErr = rejection{after: time.Duration(-hint)}
		case hint > 0:
			opErr = hinted{time.Duration(hint)}
		}
		calls := 0
		done := make(chan error, 1)
		go func() {
			done <- r.Do(context.Background(), func(context.Context) error {
				if calls++; calls <= fails {
					return opErr
				}
				return nil
			})
		}()
		hang := time.NewTimer(10 * time.Second)
		defer hang.Stop()
		for {
			select {
			case <-done:
				if calls > allowed || calls > fails+1 {
					t.Fatalf("%d attempts, allowed %d, op failed %d times", calls, allowed, fails)
				}
				return
			case d := <-waits:
				if d < 0 || d > limit {
					t.Fatalf("waits %v, cap %v", d, limit)
				}
				if d > 0 {
					fc.BlockUntil(1)
					fc.Advance(d)
				}
			case <-hang.C:
				t.Fatalf("Do did not return (%d attempts so far)", calls)
			}
		}
	})
}

// FuzzNewBudget feeds NewBudget arbitrary settings and checks that it
// returns an error naming a BudgetConfig field, or a Budget that allows no
// more retries than Ratio × calls plus the floor.
func FuzzNewBudget(f *testing.F) {
	f.Add(0.0, 0.0, int64(0), uint16(50))
	f.Add(0.1, retry.None, int64(time.Second), uint16(100))
	f.Add(retry.None, 2.0, int64(time.Minute), uint16(100))
	f.Add(retry.None, retry.None, int64(0), uint16(1))
	f.Add(math.NaN(), 1.0, int64(time.Second), uint16(1))
	f.Add(1.0, math.Inf(1), int64(time.Second), uint16(1))
	f.Add(math.Inf(-1), 1.0, int64(time.Second), uint16(1))
	f.Add(100.0, 1e6, int64(time.Hour), uint16(300))
	f.Add(-0.5, 1e7, int64(-1), uint16(1))
	f.Add(1e-300, 1e-300, int64(1), uint16(200))
	f.Fuzz(func(t *testing.T, ratio, perSecond float64, window int64, calls uint16) {
		fc := clocktest.New(epoch)
		cfg := retry.BudgetConfig{Ratio: ratio, MinPerSecond: perSecond, Window: time.Duration(window), Clock: fc}
		budget, err := retry.NewBudget(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "retry: BudgetConfig.") {
				t.Fatalf("error does not name the setting: %v", err)
			}
			return
		}
		effective := func(v, def float64) float64 {
			switch v {
			case 0:
				return def
			case retry.None:
				return 0
			}
			return v
		}
		w := cfg.Window
		if w == 0 {
			w = retry.DefaultWindow
		}
		maxRetries := effective(ratio, retry.DefaultRatio)*float64(calls) + effective(perSecond, retry.DefaultMinPerSecond)*w.Seconds()
		retries := 0
		r, err := retry.New(retry.Config{
			MaxAttempts: 2, Backoff: retry.Constant{}, Budget: budget, Clock: fc,
			Observer: counting(&retries, new(int)),
		})
		if err != nil {
			t.Fatal(err)
		}
		for range calls {
			_ = r.Do(context.Background(), fail)
		}
		if float64(retries) > maxRetries+1e-9 {
			t.Fatalf("%d retries for %d calls, budget %v", retries, calls, maxRetries)
		}
	})
}
