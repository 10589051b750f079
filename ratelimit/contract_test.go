package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRejectionsMatchErrRejected: every rejection, Limiter or Keyed, at
// once or after a wait would be too long, matches ErrLimited and
// bulwark.ErrRejected and carries its RetryAfter.
func TestRejectionsMatchErrRejected(t *testing.T) {
	assert.ErrorIs(t, ratelimit.ErrLimited, bulwark.ErrRejected)
	assert.EqualError(t, ratelimit.ErrLimited, "ratelimit: rate limit exceeded")
	fc := clocktest.New(epoch)
	cfg := ratelimit.Config{Limit: 1, Period: time.Second, Clock: fc}
	l, err := ratelimit.New(cfg)
	require.NoError(t, err)
	cfg.MaxWait = time.Millisecond
	waiting, err := ratelimit.New(cfg)
	require.NoError(t, err)
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: cfg})
	require.NoError(t, err)
	require.NoError(t, l.Allow())
	require.NoError(t, waiting.Allow())
	require.NoError(t, k.Allow("a"))
	for name, err := range map[string]error{
		"Allow":       l.Allow(),
		"Wait":        waiting.Wait(context.Background()),
		"Keyed.Allow": k.Allow("a"),
		"Keyed.Wait":  k.Wait(context.Background(), "a"),
	} {
		assert.ErrorIs(t, err, ratelimit.ErrLimited, name)
		assert.ErrorIs(t, err, bulwark.ErrRejected, name)
		assert.EqualError(t, err, "ratelimit: rate limit exceeded, retry after 1s", name)
		d, ok := bulwark.RetryAfter(err)
		assert.True(t, ok && d == time.Second, "%s: RetryAfter %v", name, d)
	}
}

// TestZeroValuesPanicClearly: a Limiter, Keyed or MemoryStore not made by
// its constructor panics with a message that says so.
func TestZeroValuesPanicClearly(t *testing.T) {
	var l ratelimit.Limiter
	var k ratelimit.Keyed
	var s ratelimit.MemoryStore
	ran := false
	op := func(context.Context) error { ran = true; return nil }
	const (
		limiter = "ratelimit: Limiter used without New"
		keyed   = "ratelimit: Keyed used without NewKeyed"
		store   = "ratelimit: MemoryStore used without NewMemoryStore"
	)
	for name, tc := range map[string]struct {
		call func()
		want string
	}{
		"Limiter.Allow":    {func() { _ = l.Allow() }, limiter},
		"Limiter.Wait":     {func() { _ = l.Wait(context.Background()) }, limiter},
		"Limiter.Do":       {func() { _ = l.Do(context.Background(), op) }, limiter},
		"Limiter.Rule":     {func() { _ = l.Rule() }, limiter},
		"Keyed.Allow":      {func() { _ = k.Allow("a") }, keyed},
		"Keyed.Wait":       {func() { _ = k.Wait(context.Background(), "a") }, keyed},
		"Keyed.Do":         {func() { _ = k.Do(context.Background(), "a", op) }, keyed},
		"Keyed.Rule":       {func() { _ = k.Rule() }, keyed},
		"MemoryStore.Take": {func() { _, _ = s.Take(context.Background(), "a", ratelimit.Rule{}, epoch) }, store},
		"MemoryStore.Len":  {func() { _ = s.Len() }, store},
	} {
		assert.PanicsWithValue(t, tc.want, tc.call, name)
	}
	assert.False(t, ran, "a zero value ran the op")
}

// TestObserverGetsTheCallersContext: Do's rejection is reported with Do's
// context, and a Keyed limiter's with its key.
func TestObserverGetsTheCallersContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "call")
	var got []string
	obs := bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		v, _ := ctx.Value(key{}).(string)
		r := e.(ratelimit.Rejected)
		got = append(got, e.Kind()+" "+e.Component()+" "+r.Key+" "+v)
	})
	cfg := ratelimit.Config{Name: "api", Limit: 1, Period: time.Hour, Observer: obs}
	l, err := ratelimit.New(cfg)
	require.NoError(t, err)
	k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: cfg})
	require.NoError(t, err)
	for range 2 {
		_ = l.Do(ctx, nop)
		_ = k.Do(ctx, "client-1", nop)
	}
	assert.Equal(t, []string{"ratelimit.rejected api  call", "ratelimit.rejected api client-1 call"}, got)
}

func TestEventsDescribeThemselves(t *testing.T) {
	e := ratelimit.Rejected{Name: "api", Key: "c1", RetryAfter: time.Second}
	assert.Equal(t, "ratelimit.rejected", e.Kind())
	assert.Equal(t, "api", e.Component())
	assert.Equal(t, "[key=c1 retry_after=1s]", e.LogValue().String())
	assert.Equal(t, "[retry_after=1s]", ratelimit.Rejected{RetryAfter: time.Second}.LogValue().String())
}

// fuzzConfig builds a Config from fuzzed fields on clock fc.
func fuzzConfig(fc *clocktest.Fake, algorithm uint8, limit int, period int64, burst int, maxWait int64) ratelimit.Config {
	return ratelimit.Config{
		Algorithm: ratelimit.Algorithm(algorithm % 3), Limit: limit, Period: time.Duration(period),
		Burst: burst, MaxWait: time.Duration(maxWait), Clock: fc,
	}
}

// checkRejection fails t unless err is nil or a rejection whose RetryAfter
// is within (0, 2 Periods]: no rejection asks a caller to wait longer than
// the limit can make it.
func checkRejection(t *testing.T, err error, period time.Duration) {
	t.Helper()
	if err == nil {
		return
	}
	var le *ratelimit.LimitedError
	if !errors.As(err, &le) {
		t.Fatalf("unexpected error %v", err)
	}
	if le.Delay <= 0 || le.Delay > 2*period {
		t.Fatalf("RetryAfter %v outside (0, 2 × Period %v]", le.Delay, period)
	}
}

// FuzzNew feeds New arbitrary settings: an error naming a Config field, or
// a limiter that behaves — rejections whose RetryAfter is within two
// periods, and a Wait that returns within MaxWait on its clock, never
// later.
func FuzzNew(f *testing.F) {
	f.Add(uint8(0), 0, int64(0), 0, int64(0), uint64(1))
	f.Add(uint8(1), 5, int64(time.Second), 0, int64(time.Second), uint64(2))
	f.Add(uint8(0), 1, int64(time.Hour), 3, int64(time.Minute), uint64(3))
	f.Add(uint8(2), -1, int64(-1), -1, int64(-1), uint64(4))
	f.Add(uint8(0), math.MaxInt, int64(math.MaxInt64), math.MaxInt, int64(math.MaxInt64), uint64(5))
	f.Add(uint8(0), 1_000_000_000, int64(time.Second), 1, int64(1), uint64(6))
	f.Fuzz(func(t *testing.T, algorithm uint8, limit int, period int64, burst int, maxWait int64, seed uint64) {
		fc := clocktest.New(epoch)
		l, err := ratelimit.New(fuzzConfig(fc, algorithm, limit, period, burst, maxWait))
		if err != nil {
			if l != nil || !strings.HasPrefix(err.Error(), "ratelimit: Config.") {
				t.Fatalf("New: limiter %v, error %q: want nil and an error naming a Config field", l, err)
			}
			return
		}
		p := l.Rule().Period
		r := rand.New(rand.NewPCG(seed, seed))
		for range 100 {
			fc.Advance(time.Duration(r.Int64N(int64(p)/int64(l.Rule().Limit) + 1)))
			checkRejection(t, l.Allow(), p)
		}
		// A Wait returns by MaxWait: at once, or when the clock has moved
		// by the wait it chose, never later.
		result := make(chan error, 1)
		go func() { result <- l.Wait(context.Background()) }()
		waited := time.Duration(0)
		for {
			select {
			case err := <-result:
				checkRejection(t, err, p)
				if waited > time.Duration(maxWait) {
					t.Fatalf("Wait returned after %v, MaxWait %v", waited, time.Duration(maxWait))
				}
				return
			default:
			}
			if fc.Timers() == 0 {
				runtime.Gosched() // Wait has not started its timer yet
				continue
			}
			rest := time.Duration(maxWait) - waited
			if rest <= 0 {
				t.Fatalf("Wait still waiting after MaxWait %v", time.Duration(maxWait))
			}
			step := min(max(rest/4, time.Microsecond), rest)
			fc.Advance(step)
			waited += step
		}
	})
}

// FuzzNewKeyed: an error naming a KeyedConfig field, or a Keyed limiter
// whose memory store keeps within MaxKeys and whose rejections are sane.
func FuzzNewKeyed(f *testing.F) {
	f.Add(uint8(0), 0, int64(0), 0, 0, uint64(1))
	f.Add(uint8(1), 3, int64(time.Second), 0, 2, uint64(2))
	f.Add(uint8(0), -1, int64(-1), -1, -1, uint64(3))
	f.Add(uint8(0), 1, int64(time.Minute), 2, math.MaxInt, uint64(4))
	f.Fuzz(func(t *testing.T, algorithm uint8, limit int, period int64, burst, maxKeys int, seed uint64) {
		fc := clocktest.New(epoch)
		k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: fuzzConfig(fc, algorithm, limit, period, burst, 0), MaxKeys: maxKeys})
		if err != nil {
			if k != nil || !strings.HasPrefix(err.Error(), "ratelimit: KeyedConfig.") {
				t.Fatalf("NewKeyed: %v, error %q: want nil and an error naming a KeyedConfig field", k, err)
			}
			return
		}
		r := rand.New(rand.NewPCG(seed, seed))
		for range 200 {
			fc.Advance(time.Duration(r.Int64N(int64(time.Second))))
			checkRejection(t, k.Allow(string(rune('a'+r.IntN(26)))), k.Rule().Period)
		}
	})
}

// FuzzNewMemoryStore: an error naming MemoryStoreConfig.MaxKeys, or a store
// that never holds more than MaxKeys keys.
func FuzzNewMemoryStore(f *testing.F) {
	for _, n := range []int{0, 1, 3, 64, 1000, -1, math.MaxInt} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, maxKeys int) {
		s, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: maxKeys})
		if err != nil {
			if s != nil || !strings.HasPrefix(err.Error(), "ratelimit: MemoryStoreConfig.MaxKeys") {
				t.Fatalf("NewMemoryStore: %v, error %q", s, err)
			}
			return
		}
		bound := maxKeys
		if bound == 0 {
			bound = 10_000
		}
		rule := ratelimit.Rule{Limit: 1, Period: time.Second, Burst: 1}
		for i := range min(bound+10, 2000) {
			_, err := s.Take(context.Background(), strings.Repeat("k", i%7)+string(rune(i)), rule, epoch)
			require.NoError(t, err)
		}
		if s.Len() > bound {
			t.Fatalf("%d keys held, MaxKeys %d", s.Len(), bound)
		}
	})
}
