package timeout_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/timeout"
)

// FuzzNew feeds New arbitrary settings and checks that it returns an error
// naming a Config field, or a Timeout that behaves: on a fake clock, an op
// that honours its context is stopped exactly at the timeout — not a moment
// before, not a moment after — and Do returns ErrTimeout; never a panic or
// a hang.
func FuzzNew(f *testing.F) {
	f.Add(int64(0), false)
	f.Add(int64(0), true)
	f.Add(int64(1), false)
	f.Add(int64(time.Second), true)
	f.Add(int64(math.MaxInt64), false)
	f.Add(int64(-1), true)
	f.Add(int64(math.MinInt64), false)
	f.Fuzz(func(t *testing.T, d int64, detach bool) {
		fc := clocktest.New(epoch)
		tm, err := timeout.New(timeout.Config{Timeout: time.Duration(d), Detach: detach, Clock: fc})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "timeout: Config.") {
				t.Fatalf("error does not name the setting: %v", err)
			}
			return
		}
		want := time.Duration(d)
		if want == 0 {
			want = timeout.DefaultTimeout
		}
		done := make(chan error, 1)
		go func() {
			done <- tm.Do(context.Background(), func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			})
		}()
		fc.BlockUntil(1)
		if want > 1 {
			fc.Advance(want - 1)
			select {
			case err := <-done:
				t.Fatalf("Do returned before the timeout of %v: %v", want, err)
			default:
			}
		}
		fc.Set(epoch.Add(want))
		select {
		case err := <-done:
			if !strings.HasPrefix(err.Error(), "timeout: call exceeded ") {
				t.Fatalf("Do: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Do did not return at the timeout of %v", want)
		}
	})
}
