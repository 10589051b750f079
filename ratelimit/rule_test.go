package ratelimit

import (
	"math"
	"testing"
	"time"
)

// FuzzWindowWaitIsExact checks SlidingWindow's arithmetic, which multiplies
// counts by nanosecond periods in 128 bits, on arbitrary states: when take
// rejects a call with wait d, a call at d-1 is rejected too and a call at d
// is permitted; and a permitted call never pushes the estimate past limit.
func FuzzWindowWaitIsExact(f *testing.F) {
	f.Add(int64(10), int64(time.Second), int64(10), int64(3), int64(500*time.Millisecond))
	f.Add(int64(1), int64(time.Second), int64(1), int64(0), int64(0))
	f.Add(int64(1_000_000), int64(24*time.Hour), int64(999_999), int64(1_000_000), int64(time.Hour))
	f.Add(int64(math.MaxInt32), int64(math.MaxInt64/4), int64(math.MaxInt32), int64(math.MaxInt32-1), int64(1))
	f.Fuzz(func(t *testing.T, limit, period, prev, curr, offset int64) {
		if limit <= 0 || period < limit || period > math.MaxInt64/4 || prev < 0 || prev > limit || curr < 0 || curr > limit {
			t.Skip()
		}
		offset = floorMod(offset, period)
		start := period * 2
		now := start + offset
		w := window{start: start, prev: prev, curr: curr}
		probe := w
		d := probe.take(now, period, limit)
		if d == 0 {
			// Permitted: curr+1 plus prev's weight stays within limit.
			if exceeds(prev, period-offset, limit-curr-1, period) {
				t.Fatalf("permitted past the limit: %+v at offset %d", w, offset)
			}
			return
		}
		if d < 0 || d > 2*period {
			t.Fatalf("wait %d out of range for period %d", d, period)
		}
		if d > 1 {
			before := w
			if before.take(now+d-1, period, limit) == 0 {
				t.Fatalf("%+v at offset %d: wait %d, but a call at %d was permitted", w, offset, d, d-1)
			}
		}
		after := w
		if got := after.take(now+d, period, limit); got != 0 {
			t.Fatalf("%+v at offset %d: wait %d, but a call then must wait %d more", w, offset, d, got)
		}
	})
}

func TestMulDivAndExceedsAvoidOverflow(t *testing.T) {
	big := int64(math.MaxInt64 / 2)
	if got := mulDiv(big, 6, 3); got != 2*big {
		t.Errorf("mulDiv(%d, 6, 3) = %d", big, got)
	}
	if !exceeds(big, 4, big, 3) || exceeds(big, 3, big, 3) {
		t.Error("exceeds is wrong past 64 bits")
	}
}
