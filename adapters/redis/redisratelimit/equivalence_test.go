package redisratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/redis/internal/redistest"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// The tests here replay calls against the Redis store and a
// ratelimit.MemoryStore side by side and require the same answer to every
// call: the Lua scripts must do the memory store's integer arithmetic
// exactly, for every rule a limiter can build, at any time; and a key
// that expires must have been the same as none.

// recordExpiry shadows state.lua's expire: rather than set the key's TTL,
// which Redis counts in real time while these tests move their own time
// much faster or slower, the scripts record it in the key's field
// "expire", and the replayer deletes the key when its own time reaches it.
const recordExpiry = `
local function expire(k, s, n)
	redis.call('HSET', k, 'expire', ms(s, n))
end
`

// replayer sends the same calls to both stores.
type replayer struct {
	t       *testing.T
	c       *redis.Client
	prefix  string
	redis   *Store
	mem     *ratelimit.MemoryStore
	expires map[string]int64 // Unix ns at which each key expires
	expired int
	what    string // names the case in failures
}

func newReplayer(t *testing.T) *replayer {
	c, prefix := redistest.Client(t)
	s, err := New(c, Config{Prefix: prefix})
	require.NoError(t, err)
	s.scripts = newScripts(recordExpiry)
	mem, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: 1 << 20})
	require.NoError(t, err)
	return &replayer{t: t, c: c, prefix: prefix, redis: s, mem: mem, expires: map[string]int64{}}
}

// take makes one call on both stores and returns its wait. Before it, the
// key expires in Redis if at is past its expiry: only at or after the Unix
// epoch, since before it the stores' zero state (a bucket full since, a
// window starting at, the epoch) is not the same as none.
func (r *replayer) take(key string, rule ratelimit.Rule, at time.Time, call int) time.Duration {
	r.t.Helper()
	ctx := context.Background()
	n := at.UnixNano()
	if e, ok := r.expires[key]; ok && n >= max(e, 0) {
		require.NoError(r.t, r.c.Del(ctx, r.prefix+key).Err())
		delete(r.expires, key)
		r.expired++
	}
	want, err := r.mem.Take(ctx, key, rule, at)
	require.NoError(r.t, err)
	got, err := r.redis.Take(ctx, key, rule, at)
	require.NoError(r.t, err, "%s, call %d: %+v at %v", r.what, call, rule, n)
	require.Equal(r.t, want, got, "%s, call %d: %+v at %v (Unix ns %d)", r.what, call, rule, at, n)
	st, err := r.c.HMGet(ctx, r.prefix+key, "latest", "expire").Result()
	require.NoError(r.t, err)
	latest, err1 := strconv.ParseInt(fmt.Sprint(st[0]), 10, 64)
	ms, err2 := strconv.ParseInt(fmt.Sprint(st[1]), 10, 64)
	require.NoError(r.t, errors.Join(err1, err2), "%s, call %d: the key has no latest time or expiry: %q", r.what, call, st)
	r.expires[key] = latest + ms*int64(time.Millisecond)
	return got
}

// rule returns the rule a Keyed limiter builds from these settings (Burst 0
// meaning Limit for a TokenBucket), without the limiter's own bounds on
// them (periods up to a year, up to 2³¹-1 calls): a Store accepts any rule
// checkRule does, and is held to the memory store's answers over all of
// them.
func rule(_ testing.TB, alg ratelimit.Algorithm, limit int, period time.Duration, burst int) (ratelimit.Rule, error) {
	if alg == ratelimit.TokenBucket && burst == 0 {
		burst = limit
	}
	return ratelimit.Rule{Algorithm: alg, Limit: limit, Period: period, Burst: burst}, nil
}

// maxBurst is the largest Burst a TokenBucket of limit per period takes.
func maxBurst(limit int, period time.Duration) int {
	interval := (int64(period) + int64(limit) - 1) / int64(limit)
	return int(math.MaxInt64 / 4 / interval)
}

// randomRule draws a rule of either algorithm: periods from a nanosecond
// to 36 years, not always whole; limits from one to one call per
// nanosecond; bursts from one to the largest a limiter accepts. Small
// limits are likelier, since they are what gets rejected in 100 calls.
func randomRule(t testing.TB, rng *rand.Rand) ratelimit.Rule {
	periods := []time.Duration{1, 999, time.Millisecond, time.Second, time.Minute, time.Hour, 24 * time.Hour, 1 << 50, 1<<60 - 1}
	period := periods[rng.IntN(len(periods))]
	if rng.IntN(2) == 0 {
		period = max(period-time.Duration(rng.Int64N(int64(period)/3+1)), 1)
	}
	var limit int
	switch p := int64(period); rng.IntN(5) {
	case 0, 1, 2:
		limit = 1 + rng.IntN(20)
	case 3:
		limit = 1 + int(rng.Int64N(min(p, 1<<40)))
	default:
		limit = int(p - rng.Int64N(p/2+1))
	}
	limit = int(min(int64(limit), int64(period)))
	alg, burst := ratelimit.SlidingWindow, 0
	if rng.IntN(2) == 0 {
		alg = ratelimit.TokenBucket
		burst = min(1+rng.IntN(min(2*limit, 40)), maxBurst(limit, period))
		if rng.IntN(8) == 0 {
			burst = maxBurst(limit, period)
		}
	}
	r, err := rule(t, alg, limit, period, burst)
	require.NoError(t, err)
	return r
}

// changedRule draws the rule a key gets after a redeployment: any other,
// except that a SlidingWindow stays on its period. (After a change of
// period the stores differ by design: see TestPeriodChange.)
func changedRule(t testing.TB, rng *rand.Rand, old ratelimit.Rule) ratelimit.Rule {
	for {
		r := randomRule(t, rng)
		if old.Algorithm == ratelimit.TokenBucket || r.Algorithm == ratelimit.TokenBucket {
			return r
		}
		if r.Limit <= int(old.Period) {
			r.Period = old.Period
			return r
		}
	}
}

// epochs are the instants sequences start at: today, the Unix epoch
// (where fixed windows and the stores' zero state meet) and a time before
// it.
var epochs = []time.Time{
	time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	time.Unix(0, 0),
	time.Date(1931, 7, 4, 9, 30, 0, 123456789, time.UTC),
}

// span bounds how far a sequence moves from its epoch, inside the range
// of times UnixNano represents.
const span = 100 * 365 * 24 * time.Hour

// step returns the offset of the next call from cursor at: the same
// instant, a nanosecond on, a little or a lot of the rule's interval or
// period on, the end of the last wait or a nanosecond before it, or a late
// arrival that read the clock before the latest call.
func step(rng *rand.Rand, r ratelimit.Rule, at, lastWait time.Duration) (next time.Duration, late bool) {
	interval := (r.Period + time.Duration(r.Limit) - 1) / time.Duration(r.Limit)
	var d time.Duration
	switch rng.IntN(8) {
	case 0:
	case 1:
		d = 1
	case 2:
		d = time.Duration(rng.Int64N(int64(min(interval, span/4))*2 + 1))
	case 3:
		d = time.Duration(rng.Int64N(int64(min(r.Period, span/4))*2 + 1))
	case 4:
		d = lastWait
	case 5:
		d = max(lastWait-1, 0)
	default:
		back := time.Duration(rng.Int64N(int64(min(r.Period, span/4))*3 + 1))
		return at - back, true
	}
	if at+d > span {
		d = time.Duration(rng.Int64N(int64(interval%time.Second) + 1))
	}
	return at + d, false
}

// TestMatchesMemoryStore replays random sequences of calls, some changing
// the rule of their key half way as a redeployed limiter would, on both
// stores.
func TestMatchesMemoryStore(t *testing.T) {
	seed := rand.Uint64()
	if v := os.Getenv("SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	r := newReplayer(t)
	calls, rejected := 0, 0
	for seq := range 150 {
		key := fmt.Sprint("seq/", seq)
		epoch := epochs[rng.IntN(len(epochs))]
		rl := randomRule(t, rng)
		var at, wait time.Duration
		for call := range 100 {
			if call == 50 && rng.IntN(8) == 0 {
				rl = changedRule(t, rng, rl)
			}
			r.what = fmt.Sprintf("seed %d, sequence %d from %v", seed, seq, epoch)
			next, late := step(rng, rl, at, wait)
			d := r.take(key, rl, epoch.Add(next), call)
			if !late {
				at, wait = next, d
			}
			calls++
			if d > 0 {
				rejected++
			}
		}
	}
	t.Logf("seed %d: %d calls agreed, %d of them rejections, after %d keys expired", seed, calls, rejected, r.expired)
}

// TestLateArrivalsMatchMemoryStore replays calls that read the clock in an
// earlier fixed window, or several, than the latest call for their key:
// each is decided in the latest call's window, which the script finds by
// division when that call was another rule's (here a token bucket's).
func TestLateArrivalsMatchMemoryStore(t *testing.T) {
	r := newReplayer(t)
	bucket := ratelimit.Rule{Algorithm: ratelimit.TokenBucket, Limit: 3, Period: time.Second, Burst: 2}
	for _, rl := range []ratelimit.Rule{
		{Algorithm: ratelimit.SlidingWindow, Limit: 3, Period: time.Second},
		{Algorithm: ratelimit.SlidingWindow, Limit: 3, Period: 7 * time.Second / 3},
		bucket,
	} {
		for _, back := range []time.Duration{1, 300 * time.Millisecond, 1500 * time.Millisecond, 5 * time.Second, 100 * time.Hour} {
			key := fmt.Sprint(rl, back)
			r.what = key
			at := 10*time.Second + 200*time.Millisecond
			r.take(key, bucket, epochs[0].Add(at), -1)
			for i := range 6 {
				r.take(key, rl, epochs[0].Add(at-back), 2*i)
				at += 700 * time.Millisecond
				r.take(key, rl, epochs[0].Add(at), 2*i+1)
			}
		}
	}
}

// FuzzMatchesMemoryStore replays calls under a rule and at times the
// fuzzer picks. Each 3 bytes of steps are one call: a kind of step (as
// step) and its size in 1/256ths of the rule's interval or period.
func FuzzMatchesMemoryStore(f *testing.F) {
	f.Add(false, int64(10), int64(time.Second), int64(3), int64(1772366400000000000), []byte{0, 0, 0, 1, 0, 0, 2, 0, 200, 7, 0, 9})
	f.Add(true, int64(10), int64(time.Second), int64(0), int64(1772366400500000000), []byte{0, 0, 0, 0, 0, 0, 4, 0, 0, 7, 0, 255, 3, 1, 0})
	f.Add(true, int64(3), int64(1<<60-1), int64(0), int64(-1), []byte{2, 1, 0, 3, 0, 80, 7, 0, 1, 4, 0, 0})
	f.Add(false, int64(1<<40), int64(1<<41), int64(1<<20), int64(0), []byte{0, 0, 0, 1, 255, 255, 5, 0, 0})
	f.Add(true, int64(1), int64(1), int64(0), int64(-1e18), []byte{1, 0, 0, 7, 0, 2, 3, 0, 9})
	f.Fuzz(func(t *testing.T, sliding bool, limit, period, burst, start int64, steps []byte) {
		if len(steps) > 300 {
			steps = steps[:300]
		}
		period = 1 + abs(period)%(1<<60)
		limit = 1 + abs(limit)%period
		alg := ratelimit.TokenBucket
		if sliding {
			alg, burst = ratelimit.SlidingWindow, 0
		} else {
			burst = 1 + abs(burst)%int64(maxBurst(int(limit), time.Duration(period)))
		}
		rl, err := rule(t, alg, int(limit), time.Duration(period), int(burst))
		require.NoError(t, err)
		epoch := time.Unix(0, start%(2<<60))
		r := newReplayer(t)
		r.what = fmt.Sprintf("%+v from %d", rl, epoch.UnixNano())
		interval := (rl.Period + time.Duration(rl.Limit) - 1) / time.Duration(rl.Limit)
		var at, wait time.Duration
		for i := 0; i+2 < len(steps); i += 3 {
			size := time.Duration(steps[i+1])<<8 | time.Duration(steps[i+2])
			next, late := at, false
			switch steps[i] % 8 {
			case 0:
			case 1:
				next = at + 1
			case 2:
				next = at + min(interval, span/4)/256*size
			case 3:
				next = at + min(rl.Period, span/4)/256*size
			case 4:
				next = at + wait
			case 5:
				next = at + max(wait-1, 0)
			default:
				next, late = at-min(rl.Period, span/4)/256*size, true
			}
			if next > span {
				next = at
			}
			d := r.take("k", rl, epoch.Add(next), i/3)
			if !late {
				at, wait = next, d
			}
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -(n + 1)
	}
	return n
}
