package redisratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/redis/internal/redistest"
	"github.com/bulwark-go/bulwark/adapters/redis/redisratelimit"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/ratelimit/ratelimittest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// t0 is a whole minute, as in ratelimittest, so that fixed windows of a
// second start there.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	tenPerSecond = ratelimit.Rule{Algorithm: ratelimit.TokenBucket, Limit: 10, Period: time.Second, Burst: 3}
	tenPerWindow = ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 10, Period: time.Second}
)

// newStore returns a store on the test's server under a key prefix of its
// own, deleted when the test ends.
func newStore(t testing.TB) (*redisratelimit.Store, *redis.Client, string) {
	t.Helper()
	c, prefix := redistest.Client(t)
	return storeOn(t, c, prefix), c, prefix
}

func storeOn(t testing.TB, c redis.Scripter, prefix string) *redisratelimit.Store {
	t.Helper()
	s, err := redisratelimit.New(c, redisratelimit.Config{Prefix: prefix})
	require.NoError(t, err)
	return s
}

func take(t *testing.T, s ratelimit.Store, key string, r ratelimit.Rule, at time.Duration) time.Duration {
	t.Helper()
	d, err := s.Take(context.Background(), key, r, t0.Add(at))
	require.NoError(t, err)
	return d
}

func TestConformance(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimittest.Harness {
		s, _, prefix := newStore(t)
		peer, _ := redistest.Client(t) // another process's client
		return ratelimittest.Harness{Store: s, Peer: storeOn(t, peer, prefix)}
	})
}

func TestNewRequiresAClient(t *testing.T) {
	s, err := redisratelimit.New(nil, redisratelimit.DefaultConfig())
	assert.EqualError(t, err, "redisratelimit: New: client must not be nil")
	assert.Nil(t, s)
}

// TestZeroConfigIsTheDefault: the zero Config writes under the default
// prefix, "ratelimit:", as DefaultConfig says.
func TestZeroConfigIsTheDefault(t *testing.T) {
	assert.Equal(t, "ratelimit:", redisratelimit.DefaultConfig().Prefix)
	c, _ := redistest.Client(t)
	s, err := redisratelimit.New(c, redisratelimit.Config{})
	require.NoError(t, err)
	key := redistest.Prefix() + "k"
	t.Cleanup(func() { c.Del(context.Background(), "ratelimit:"+key) })
	take(t, s, key, tenPerSecond, 0)
	n, err := c.Exists(context.Background(), "ratelimit:"+key).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the key is kept under ratelimit:")
}

func TestZeroStorePanics(t *testing.T) {
	var s redisratelimit.Store
	assert.PanicsWithValue(t, "redisratelimit: Store used without New", func() {
		_, _ = s.Take(context.Background(), "k", tenPerSecond, t0)
	})
}

// FuzzNew: New accepts any prefix for a client, and the store keeps each
// key exactly under its prefix (binary-safe, whatever the bytes).
func FuzzNew(f *testing.F) {
	for _, p := range []string{"", "api:", "{tag}:", "\x00\xff", "*?[", strings.Repeat("p", 1000)} {
		f.Add(p, "client-1")
	}
	f.Fuzz(func(t *testing.T, prefix, key string) {
		c, base := redistest.Client(t)
		s, err := redisratelimit.New(c, redisratelimit.Config{Prefix: base + prefix})
		require.NoError(t, err)
		d, err := s.Take(context.Background(), key, tenPerSecond, t0)
		require.NoError(t, err)
		require.Zero(t, d, "a key's first call is permitted")
		n, err := c.Exists(context.Background(), base+prefix+key).Result()
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "the key is kept under its prefix")
	})
}

// TestTakeRejectsInvalidRules: a rule no limiter builds gets an error
// naming the key and the field, before any round trip.
func TestTakeRejectsInvalidRules(t *testing.T) {
	s := storeOn(t, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), "p:")
	for _, tc := range []struct {
		rule ratelimit.Rule
		err  string
	}{
		{ratelimit.Rule{Algorithm: 7, Limit: 1, Period: time.Second, Burst: 1}, "Rule.Algorithm must be TokenBucket or SlidingWindow, got Algorithm(7)"},
		{ratelimit.Rule{Limit: 0, Period: time.Second, Burst: 1}, "Rule.Limit must be > 0, got 0"},
		{ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 10, Period: 9}, "Rule.Period must be at least Limit nanoseconds, got 9ns for Limit 10"},
		{ratelimit.Rule{Limit: 1, Period: time.Second}, "Rule.Burst must be > 0 for TokenBucket, got 0"},
		{ratelimit.Rule{Limit: 1, Period: time.Second, Burst: 1 << 40}, "Rule.Burst must be at most 2305843009 for a Period of 1s and Limit 1, got 1099511627776"},
	} {
		_, err := s.Take(context.Background(), "k", tc.rule, t0)
		assert.EqualError(t, err, `redisratelimit: key "k": `+tc.err)
	}
}

// TestKeysExpireWhenTheirStateIsNone reads each key's expiry from Redis
// (PEXPIRETIME, on the server's clock, read around the call): a token
// bucket's key expires two seconds (the grace) after the bucket is full
// again, a sliding window's two seconds after two periods from its
// window's start, rounded up to the millisecond.
func TestKeysExpireWhenTheirStateIsNone(t *testing.T) {
	threePerSecond := ratelimit.Rule{Algorithm: ratelimit.TokenBucket, Limit: 3, Period: time.Second, Burst: 1}
	for _, tc := range []struct {
		name  string
		rule  ratelimit.Rule
		calls []time.Duration // the last one is measured
		want  time.Duration
	}{
		{"a token taken", tenPerSecond, []time.Duration{0}, 100 * time.Millisecond},
		{"the burst taken", tenPerSecond, []time.Duration{0, 0, 0}, 300 * time.Millisecond},
		{"a rejection later on", tenPerSecond, []time.Duration{0, 0, 0, 50 * time.Millisecond}, 250 * time.Millisecond},
		{"a late arrival", tenPerSecond, []time.Duration{10 * time.Millisecond, 0}, 200 * time.Millisecond},
		{"an interval of 333333334ns", threePerSecond, []time.Duration{0}, 334 * time.Millisecond},
		{"a window", tenPerWindow, []time.Duration{250 * time.Millisecond}, 1750 * time.Millisecond},
		{"a window, rounded up", tenPerWindow, []time.Duration{250*time.Millisecond + 500*time.Microsecond}, 1750 * time.Millisecond},
		{"the next window", tenPerWindow, []time.Duration{250 * time.Millisecond, 1100 * time.Millisecond}, 1900 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, prefix := newStore(t)
			ctx := context.Background()
			last := len(tc.calls) - 1
			for _, at := range tc.calls[:last] {
				take(t, s, "k", tc.rule, at)
			}
			before, err := c.Time(ctx).Result()
			require.NoError(t, err)
			take(t, s, "k", tc.rule, tc.calls[last])
			after, err := c.Time(ctx).Result()
			require.NoError(t, err)
			exp, err := c.PExpireTime(ctx, prefix+"k").Result()
			require.NoError(t, err)
			require.Positive(t, exp, "the key has no expiry")
			const grace = 2 * time.Second
			assert.GreaterOrEqual(t, exp, time.Duration(before.UnixMilli())*time.Millisecond+tc.want+grace)
			assert.LessOrEqual(t, exp, time.Duration(after.UnixMilli())*time.Millisecond+tc.want+grace)
		})
	}
}

// commands records the commands a client sends, and can fail EVALSHA as
// a server that has lost its scripts does.
type commands struct {
	mu       sync.Mutex
	names    []string
	noScript int // EVALSHA calls still to fail with NOSCRIPT
}

func (h *commands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *commands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.mu.Lock()
		h.names = append(h.names, cmd.Name())
		fail := cmd.Name() == "evalsha" && h.noScript > 0
		if fail {
			h.noScript--
		}
		h.mu.Unlock()
		if fail {
			cmd.SetErr(redis.ErrNoScript)
			return redis.ErrNoScript
		}
		return next(ctx, cmd)
	}
}

func (h *commands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *commands) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := h.names
	h.names = nil
	return names
}

// TestOneRoundTripPerTake counts the commands sent: one EVALSHA per Take,
// permitted or not, of either algorithm.
func TestOneRoundTripPerTake(t *testing.T) {
	s, c, _ := newStore(t)
	h := &commands{}
	c.AddHook(h)
	for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
		take(t, s, "warm-up", r, 0) // the server may not have the script yet
	}
	h.take()
	for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
		rejected := 0
		for i := range 30 {
			if take(t, s, r.Algorithm.String(), r, time.Duration(i)*time.Millisecond) > 0 {
				rejected++
			}
		}
		require.Positive(t, rejected)
		assert.Equal(t, repeat("evalsha", 30), h.take(), "%v: 30 calls, %d of them rejected", r.Algorithm, rejected)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// TestLostScriptIsSentAgain: when the server answers NOSCRIPT (after a
// restart, a failover or SCRIPT FLUSH), the call is made with EVAL, which
// loads the script again, and decides as it would have.
func TestLostScriptIsSentAgain(t *testing.T) {
	for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
		t.Run(r.Algorithm.String(), func(t *testing.T) {
			s, c, _ := newStore(t)
			h := &commands{noScript: 1}
			c.AddHook(h)
			for i := range 3 {
				require.Zero(t, take(t, s, "k", r, 0), "call %d", i)
			}
			assert.Equal(t, []string{"evalsha", "eval", "evalsha", "evalsha"}, h.take())
		})
	}
}

// TestTwoStoresNeverAdmitMoreThanTheLimit runs two limiters, each with its
// own client and store as two processes would have, with eight goroutines
// each calling on four shared keys at one instant, then at a later one:
// between them they admit exactly what one limiter would.
func TestTwoStoresNeverAdmitMoreThanTheLimit(t *testing.T) {
	const goroutines, calls, keys = 8, 60, 4
	for _, cfg := range []ratelimit.Config{
		{Algorithm: ratelimit.TokenBucket, Limit: 60, Period: time.Hour, Burst: 25},
		{Algorithm: ratelimit.SlidingWindow, Limit: 25, Period: time.Hour},
	} {
		t.Run(cfg.Algorithm.String(), func(t *testing.T) {
			c, prefix := redistest.Client(t)
			other := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
			t.Cleanup(func() { other.Close() })
			clk := clocktest.New(t0)
			cfg.Clock = clk
			var limiters [2]*ratelimit.Keyed
			for i, c := range []*redis.Client{c, other} {
				k, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: cfg, Store: storeOn(t, c, prefix)})
				require.NoError(t, err)
				limiters[i] = k
			}
			oracle, err := ratelimit.NewKeyed(ratelimit.KeyedConfig{Config: cfg, MaxKeys: keys})
			require.NoError(t, err)
			for _, step := range []time.Duration{0, 10 * time.Minute, time.Hour} {
				clk.Advance(step)
				want := 0
				for range 2 * goroutines * calls / keys {
					if oracle.Allow("k") == nil {
						want++
					}
				}
				var permitted [keys]atomic.Int64
				var wg sync.WaitGroup
				for _, l := range limiters {
					for g := range goroutines {
						wg.Go(func() {
							for i := range calls {
								key := (g + i) % keys
								err := l.Allow(strconv.Itoa(key))
								if err == nil {
									permitted[key].Add(1)
								} else if !errors.Is(err, ratelimit.ErrLimited) {
									t.Error(err)
									return
								}
							}
						})
					}
				}
				wg.Wait()
				for key := range permitted {
					assert.EqualValues(t, want, permitted[key].Load(), "key %d at %v", key, clk.Now().Sub(t0))
				}
				t.Logf("at %v: %d calls per key from 2 stores, %d permitted", clk.Now().Sub(t0), 2*goroutines*calls/keys, want)
			}
		})
	}
}

// TestCorruptStateIsAnError: a key whose hash the store did not write is
// an error naming the key, never a guess; so is a key of another type.
func TestCorruptStateIsAnError(t *testing.T) {
	s, c, prefix := newStore(t)
	ctx := context.Background()
	for _, tc := range []struct{ field, value string }{
		{"latest", "soon"}, {"latest", "1.5"}, {"latest", "12345678901234567890"},
		{"tat", ""}, {"tat", "--1"}, {"start", "1e9"}, {"prev", "-1"}, {"curr", "68719476737"}, {"curr", "x"},
	} {
		key := tc.field + "=" + tc.value
		require.NoError(t, c.HSet(ctx, prefix+key, tc.field, tc.value).Err())
		r := tenPerWindow
		if tc.field == "tat" {
			r = tenPerSecond
		}
		_, err := s.Take(ctx, key, r, t0)
		assert.EqualError(t, err, fmt.Sprintf("redisratelimit: key %q: corrupt rate limit state", key))
		var redisErr redis.Error
		assert.ErrorAs(t, err, &redisErr)
	}
	require.NoError(t, c.Set(ctx, prefix+"string", "x", 0).Err())
	_, err := s.Take(ctx, "string", tenPerSecond, t0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `redisratelimit: key "string": WRONGTYPE`)
}

// TestCountsStopAtTwoToThe36: the script's arithmetic is exact for counts
// up to 2^36 calls in one window of one key, and it refuses to count past
// that (a limit of more than 68 billion calls per window, reached) rather
// than round.
func TestCountsStopAtTwoToThe36(t *testing.T) {
	s, c, prefix := newStore(t)
	ctx := context.Background()
	huge := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 1 << 40, Period: time.Hour}
	start := strconv.FormatInt(t0.Truncate(time.Hour).UnixNano(), 10)
	require.NoError(t, c.HSet(ctx, prefix+"k", "latest", start, "start", start, "prev", 1<<36, "curr", 1<<36-1).Err())
	d, err := s.Take(ctx, "k", huge, t0)
	require.NoError(t, err)
	assert.Zero(t, d)
	curr, err := c.HGet(ctx, prefix+"k", "curr").Int64()
	require.NoError(t, err)
	assert.EqualValues(t, int64(1)<<36, curr)
	_, err = s.Take(ctx, "k", huge, t0)
	assert.EqualError(t, err, `redisratelimit: key "k": more than 2^36 calls counted in one window`)
}

// TestPeriodChange: after a redeployment changes a sliding window's period,
// a key's stored window may not line up with the new period's windows.
// One that began within a period of the current one weighs as the previous
// window (the memory store returns -500ms here); and over random changes of
// period every answer is a wait >= 0.
func TestPeriodChange(t *testing.T) {
	s, _, _ := newStore(t)
	five := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 2, Period: 5 * time.Second}
	four := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 2, Period: 4 * time.Second}
	require.Zero(t, take(t, s, "k", five, 5*time.Second))
	require.Zero(t, take(t, s, "k", five, 5*time.Second))
	// At 11.5 s the 4 s window began at 8 s; the stored one began at 5 s.
	// Its two calls weigh 2 × 0.5/4 = 0.25: one more call fits, and the
	// next once they weigh nothing, at 12 s.
	assert.Zero(t, take(t, s, "k", four, 11500*time.Millisecond))
	assert.Equal(t, 500*time.Millisecond, take(t, s, "k", four, 11500*time.Millisecond))

	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 11))
	var at time.Duration
	for i := range 500 {
		r := ratelimit.Rule{Algorithm: ratelimit.SlidingWindow, Limit: 1 + rng.IntN(5), Period: time.Duration(1+rng.IntN(10)) * 100 * time.Millisecond}
		at += time.Duration(rng.Int64N(int64(r.Period)))
		d, err := s.Take(context.Background(), "random", r, t0.Add(at))
		require.NoError(t, err, "seed %d, call %d: %+v", seed, i, r)
		require.GreaterOrEqual(t, d, time.Duration(0), "seed %d, call %d: %+v", seed, i, r)
	}
}

// FuzzStoredState writes any value into a field of a key's hash. A value
// the scripts could have written is read as such: the call is decided,
// or refused for a count past 2^36 or a wait past int64; any other value
// is "corrupt rate limit state", never a script error or a guess.
func FuzzStoredState(f *testing.F) {
	for i, v := range []string{
		"0", "-1", "1772366400000000000", "9999999999999999999", "-9999999999999999999",
		"12345678901234567890", "1.5", "", " 1", "+1", "68719476736", "68719476737", "0x10", "1e9", "nan",
	} {
		f.Add(uint8(i), v)
	}
	s, c, prefix := newStore(f)
	fields := []string{"latest", "tat", "start", "prev", "curr"}
	wellFormed := map[string]*regexp.Regexp{
		"latest": regexp.MustCompile(`^-?[0-9]{1,19}$`),
		"tat":    regexp.MustCompile(`^-?[0-9]{1,19}$`),
		"start":  regexp.MustCompile(`^-?[0-9]{1,19}$`),
		"prev":   regexp.MustCompile(`^[0-9]{1,11}$`),
		"curr":   regexp.MustCompile(`^[0-9]{1,11}$`),
	}
	f.Fuzz(func(t *testing.T, field uint8, value string) {
		ctx := context.Background()
		name := fields[int(field)%len(fields)]
		ok := wellFormed[name].MatchString(value)
		if n, err := strconv.ParseInt(value, 10, 64); ok && (name == "prev" || name == "curr") && (err != nil || n > 1<<36) {
			ok = false
		}
		for _, r := range []ratelimit.Rule{tenPerSecond, tenPerWindow} {
			reads := name == "latest" || (name == "tat") == (r.Algorithm == ratelimit.TokenBucket)
			key := fmt.Sprintf("fuzz/%x", rand.Uint64())
			require.NoError(t, c.HSet(ctx, prefix+key, name, value).Err())
			_, err := s.Take(ctx, key, r, t0)
			require.NoError(t, c.Del(ctx, prefix+key).Err())
			switch {
			case reads && !ok:
				require.EqualError(t, err, fmt.Sprintf("redisratelimit: key %q: corrupt rate limit state", key), "%s = %q", name, value)
			case err != nil:
				require.Regexp(t, `malformed reply|more than 2\^36 calls`, err.Error(), "%s = %q", name, value)
			}
		}
	})
}
