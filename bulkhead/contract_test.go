package bulkhead_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRejectionsMatchErrRejected: a full bulkhead's rejections, at once or
// after waiting MaxWait, match ErrFull and bulwark.ErrRejected.
func TestRejectionsMatchErrRejected(t *testing.T) {
	assert.ErrorIs(t, bulkhead.ErrFull, bulwark.ErrRejected)
	assert.EqualError(t, bulkhead.ErrFull, "bulkhead: full")

	b, p, fc := waitingBulkhead(t, 1)
	defer p.Release(nil)
	result := make(chan error)
	go func() { result <- b.Do(context.Background(), nop) }()
	fc.BlockUntil(1)
	atOnce := b.Do(context.Background(), nop) // the line is full
	fc.Advance(time.Minute)
	waited := <-result
	for _, err := range []error{atOnce, waited} {
		assert.ErrorIs(t, err, bulkhead.ErrFull)
		assert.ErrorIs(t, err, bulwark.ErrRejected)
	}
	assert.EqualError(t, atOnce, "bulkhead: full")
	assert.EqualError(t, waited, "bulkhead: full: no permit within Config.MaxWait")
}

// TestZeroValuesPanicClearly: a Bulkhead or Keyed not made by New, and a
// Permit not acquired, panic with a message that says so instead of
// rejecting every call.
func TestZeroValuesPanicClearly(t *testing.T) {
	var b bulkhead.Bulkhead
	var k bulkhead.Keyed
	ran := false
	op := func(context.Context) error { ran = true; return nil }
	const unmade, unmadeKeyed = "bulkhead: Bulkhead used without New", "bulkhead: Keyed used without NewKeyed"
	for name, tc := range map[string]struct {
		call func()
		want string
	}{
		"Bulkhead.Do":         {func() { _ = b.Do(context.Background(), op) }, unmade},
		"Bulkhead.Acquire":    {func() { _, _ = b.Acquire(context.Background()) }, unmade},
		"Bulkhead.TryAcquire": {func() { _, _ = b.TryAcquire() }, unmade},
		"Bulkhead.Limit":      {func() { _ = b.Limit() }, unmade},
		"Bulkhead.InFlight":   {func() { _ = b.InFlight() }, unmade},
		"Bulkhead.Waiting":    {func() { _ = b.Waiting() }, unmade},
		"Keyed.Do":            {func() { _ = k.Do(context.Background(), "a", op) }, unmadeKeyed},
		"Keyed.Limit":         {func() { _ = k.Limit("a") }, unmadeKeyed},
		"Keyed.Len":           {func() { _ = k.Len() }, unmadeKeyed},
		"Permit.Release":      {func() { bulkhead.Permit{}.Release(nil) }, "bulkhead: Release of a Permit not acquired"},
	} {
		assert.PanicsWithValue(t, tc.want, tc.call, name)
	}
	assert.False(t, ran, "a zero value ran the op")
}

// TestObserverGetsTheCallersContext: a rejection and a limit change are
// reported with the context of the call that caused them.
func TestObserverGetsTheCallersContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "call")
	fc := clocktest.New(epoch)
	var got []string
	b, err := bulkhead.New(bulkhead.Config{
		MaxConcurrent: 2,
		Adaptive:      bulkhead.AIMD{InitialLimit: 1, LatencyThreshold: time.Second, BackoffRatio: 0.5},
		Clock:         fc,
		Observer: bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			v, _ := ctx.Value(key{}).(string)
			got = append(got, e.Kind()+" "+v)
		}),
	})
	require.NoError(t, err)
	require.NoError(t, b.Do(ctx, func(context.Context) error {
		assert.ErrorIs(t, b.Do(ctx, nop), bulkhead.ErrFull)
		return nil
	})) // fast and at least half used: the limit grows
	assert.Equal(t, []string{"bulkhead.rejected call", "bulkhead.limit_changed call"}, got)
}

func TestEventsDescribeThemselves(t *testing.T) {
	for _, tc := range []struct {
		e          bulwark.Event
		kind, logs string
	}{
		{bulkhead.Rejected{Name: "inv", Key: "t1", Limit: 4, Waited: true}, "bulkhead.rejected", "[key=t1 limit=4 waited=true]"},
		{bulkhead.Rejected{Name: "inv", Limit: 4}, "bulkhead.rejected", "[limit=4 waited=false]"},
		{bulkhead.LimitChanged{Name: "inv", Key: "t1", From: 4, To: 5}, "bulkhead.limit_changed", "[key=t1 from=4 to=5]"},
	} {
		assert.Equal(t, tc.kind, tc.e.Kind())
		assert.Equal(t, "inv", tc.e.Component())
		assert.Equal(t, tc.logs, tc.e.LogValue().String())
	}
}

// FuzzNew feeds New arbitrary settings: an error naming a Config field, or
// a bulkhead that behaves — never more calls in flight than its limit, a
// limit within [1, MaxConcurrent], and a waiting caller answered once
// MaxWait has passed on its clock, never later.
func FuzzNew(f *testing.F) {
	f.Add(0, 0, int64(0), uint8(0), 0, 0, int64(0), 0.0, 0.0, int64(0), 0, int64(0), uint64(1))
	f.Add(2, 1, int64(time.Second), uint8(1), 1, 1, int64(time.Millisecond), 0.5, 0.0, int64(0), 0, int64(0), uint64(2))
	f.Add(5, 3, int64(0), uint8(2), 3, 2, int64(0), 1.5, 0.5, int64(time.Second), 2, int64(NeverProbeForFuzz), uint64(3))
	f.Add(-1, -1, int64(-1), uint8(1), -1, -1, int64(-1), math.NaN(), math.Inf(1), int64(-1), -1, int64(-5), uint64(4))
	f.Add(math.MaxInt, math.MaxInt, int64(math.MaxInt64), uint8(2), math.MaxInt, math.MaxInt, int64(math.MaxInt64), math.Inf(1), math.NaN(), int64(math.MaxInt64), math.MaxInt, int64(math.MaxInt64), uint64(5))
	f.Fuzz(func(t *testing.T, maxConcurrent, maxWaiting int, maxWait int64, kind uint8, initial, minimum int,
		threshold int64, ratio, smoothing float64, window int64, samples int, probe int64, seed uint64,
	) {
		fc := clocktest.New(epoch)
		cfg := bulkhead.Config{MaxConcurrent: maxConcurrent, MaxWaiting: maxWaiting, MaxWait: time.Duration(maxWait), Clock: fc}
		switch kind % 3 {
		case 1:
			cfg.Adaptive = bulkhead.AIMD{InitialLimit: initial, MinLimit: minimum, LatencyThreshold: time.Duration(threshold), BackoffRatio: ratio}
		case 2:
			cfg.Adaptive = bulkhead.Gradient{InitialLimit: initial, MinLimit: minimum, Tolerance: ratio, Smoothing: smoothing,
				Window: time.Duration(window), WindowSamples: samples, ProbeInterval: time.Duration(probe)}
		}
		b, err := bulkhead.New(cfg)
		if err != nil {
			if b != nil || !strings.HasPrefix(err.Error(), "bulkhead: Config.") {
				t.Fatalf("New: bulkhead %v, error %q: want nil and an error naming a Config field", b, err)
			}
			return
		}
		ceiling := maxConcurrent
		if ceiling == 0 {
			ceiling = 25
		}
		wait := time.Duration(maxWait)
		if wait == 0 {
			wait = 100 * time.Millisecond
		}
		r := rand.New(rand.NewPCG(seed, seed))
		var held []bulkhead.Permit
		for range 200 {
			switch r.IntN(3) {
			case 0:
				if p, ok := b.TryAcquire(); ok {
					held = append(held, p)
				}
			case 1:
				if len(held) > 0 {
					i := r.IntN(len(held))
					fc.Advance(time.Duration(r.Int64N(int64(time.Second))))
					held[i].Release(nil)
					held = append(held[:i], held[i+1:]...)
				}
			default:
				fc.Advance(time.Duration(r.Int64N(int64(time.Second))))
			}
			if lim := b.Limit(); lim < 1 || lim > ceiling || b.InFlight() > max(lim, len(held)) || b.InFlight() != len(held) {
				t.Fatalf("limit %d (ceiling %d), %d in flight, %d held", lim, ceiling, b.InFlight(), len(held))
			}
		}
		// Fill it, then wait: the wait must end with MaxWait, not later.
		for {
			p, ok := b.TryAcquire()
			if !ok {
				break
			}
			held = append(held, p)
		}
		if maxWaiting > 0 {
			result := make(chan error, 1)
			go func() {
				p, err := b.Acquire(context.Background())
				if err == nil {
					p.Release(nil)
				}
				result <- err
			}()
			fc.BlockUntil(1)
			fc.Advance(wait - 1)
			select {
			case err := <-result:
				t.Fatalf("the wait ended before MaxWait %v: %v", wait, err)
			default:
			}
			fc.Advance(1)
			if err := <-result; !errors.Is(err, bulkhead.ErrFull) {
				t.Fatalf("after MaxWait: %v, want ErrFull", err)
			}
		}
		for _, p := range held {
			p.Release(nil)
		}
		if b.InFlight() != 0 {
			t.Fatalf("%d in flight after every release", b.InFlight())
		}
	})
}

// NeverProbeForFuzz is bulkhead.NeverProbe as the fuzz seed's int64.
const NeverProbeForFuzz = int64(bulkhead.NeverProbe)

// FuzzNewKeyed: an error naming a KeyedConfig field, or a Keyed bulkhead
// that keeps within MaxIdleKeys idle keys.
func FuzzNewKeyed(f *testing.F) {
	f.Add(0, 0, uint64(1))
	f.Add(1, 3, uint64(2))
	f.Add(-1, -1, uint64(3))
	f.Add(math.MaxInt, math.MaxInt, uint64(4))
	f.Fuzz(func(t *testing.T, maxConcurrent, maxIdle int, seed uint64) {
		k, err := bulkhead.NewKeyed(bulkhead.KeyedConfig{Config: bulkhead.Config{MaxConcurrent: maxConcurrent}, MaxIdleKeys: maxIdle})
		if err != nil {
			if k != nil || !strings.HasPrefix(err.Error(), "bulkhead: KeyedConfig.") {
				t.Fatalf("NewKeyed: %v, error %q: want nil and an error naming a KeyedConfig field", k, err)
			}
			return
		}
		bound := maxIdle
		if bound == 0 {
			bound = 1000
		}
		r := rand.New(rand.NewPCG(seed, seed))
		for range 100 {
			require.NoError(t, k.Do(context.Background(), string(rune('a'+r.IntN(26))), nop))
			if k.Len() > bound {
				t.Fatalf("%d keys kept, MaxIdleKeys %d", k.Len(), bound)
			}
		}
	})
}
