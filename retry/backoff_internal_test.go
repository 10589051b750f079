package retry

import (
	"github.com/cenkalti/backoff/v4"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Jitter draws from the runtime's random source, so these tests check
// bounds on every draw and the spread of many draws rather than exact values.

func TestExponentialWithoutJitterIsExact(t *testing.T) {
	e := Exponential{Initial: 10 * time.Millisecond, Multiplier: 1.5, Jitter: NoJitter}
	assert.Equal(t, 10*time.Millisecond, e.Wait(1, 0, 0))
	assert.Equal(t, 15*time.Millisecond, e.Wait(2, 0, 0))
	assert.Equal(t, 22500*time.Microsecond, e.Wait(3, 0, 0))
	assert.Equal(t, 20*time.Millisecond, e.Wait(3, 0, 20*time.Millisecond), "capped")
}

func TestExponentialSaturatesInsteadOfOverflowing(t *testing.T) {
	for _, j := range []Jitter{NoJitter, FullJitter, EqualJitter} {
		e := Exponential{Initial: time.Hour, Jitter: j}
		for n := 1; n < 2000; n += 97 {
			d := e.Wait(n, 0, 0)
			assert.GreaterOrEqual(t, d, time.Duration(0), "%v retry %d", j, n)
		}
		if j == NoJitter {
			assert.Equal(t, time.Duration(math.MaxInt64), e.Wait(1000, 0, 0))
			assert.Equal(t, time.Minute, e.Wait(1000, 0, time.Minute), "capped")
		}
	}
}

func TestJitterBoundsAndSpread(t *testing.T) {
	const draws = 4000
	tests := []struct {
		jitter   Jitter
		lo, hi   float64 // bounds as fractions of the unjittered delay
		meanFrac float64
	}{
		{FullJitter, 0, 1, 0.5},
		{EqualJitter, 0.5, 1, 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.jitter.String(), func(t *testing.T) {
			e := Exponential{Initial: 100 * time.Millisecond, Jitter: tt.jitter}
			for n := 1; n <= 6; n++ {
				limit := 2 * time.Second
				full := min(100*time.Millisecond<<(n-1), limit)
				var sum float64
				distinct := map[time.Duration]bool{}
				for range draws {
					d := e.Wait(n, 0, limit)
					frac := float64(d) / float64(full)
					if frac < tt.lo || frac >= tt.hi {
						t.Fatalf("retry %d: delay %v outside [%v, %v) of %v", n, d, tt.lo, tt.hi, full)
					}
					sum += frac
					distinct[d] = true
				}
				mean := sum / draws
				assert.InDelta(t, tt.meanFrac, mean, 0.03, "retry %d: mean fraction", n)
				assert.Greater(t, len(distinct), draws/2, "retry %d: delays vary", n)
			}
		})
	}
}

func TestDecorrelatedBoundsAndGrowth(t *testing.T) {
	d := Decorrelated{Base: 10 * time.Millisecond}
	limit := 5 * time.Second
	for range 500 {
		prev := time.Duration(0)
		for n := 1; n <= 30; n++ {
			next := d.Wait(n, prev, limit)
			lo, hi := d.Base, 3*max(prev, d.Base)
			if next != limit && (next < lo || next >= hi) {
				t.Fatalf("retry %d after %v: delay %v outside [%v, %v)", n, prev, next, lo, hi)
			}
			if next > limit {
				t.Fatalf("retry %d: delay %v over the cap %v", n, next, limit)
			}
			prev = next
		}
	}
	// Decorrelated delays grow: the mean after many retries is far above Base.
	var sum time.Duration
	for range 1000 {
		prev := time.Duration(0)
		for n := 1; n <= 8; n++ {
			prev = d.Wait(n, prev, 0)
		}
		sum += prev
	}
	assert.Greater(t, sum/1000, 20*d.Base)
}

func TestDecorrelatedSaturatesInsteadOfOverflowing(t *testing.T) {
	d := Decorrelated{Base: time.Second}
	got := d.Wait(5, math.MaxInt64/2, 0)
	assert.GreaterOrEqual(t, got, time.Second)
}

func TestConstantIsCapped(t *testing.T) {
	assert.Equal(t, time.Second, Constant{Delay: time.Second}.Wait(9, 0, 0))
	assert.Equal(t, 500*time.Millisecond, Constant{Delay: time.Second}.Wait(9, 0, 500*time.Millisecond))
}

func TestBackOffWaitStepsAFreshBackOff(t *testing.T) {
	b := BackOff{New: func() backoff.BackOff {
		return backoff.WithMaxRetries(&backoff.ConstantBackOff{Interval: 3 * time.Millisecond}, 2)
	}}
	assert.Equal(t, 3*time.Millisecond, b.Wait(1, 0, 0))
	assert.Equal(t, 3*time.Millisecond, b.Wait(2, 0, 0))
	assert.Equal(t, 3*time.Millisecond, b.Wait(3, 0, 0), "after Stop, the last wait without a limit")
	assert.Equal(t, time.Second, b.Wait(3, 0, time.Second), "after Stop, the limit")
	assert.Equal(t, 2*time.Millisecond, b.Wait(1, 0, 2*time.Millisecond), "capped")
}
