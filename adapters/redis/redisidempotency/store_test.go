package redisidempotency_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/redis/internal/redistest"
	"github.com/bulwark-go/bulwark/adapters/redis/redisidempotency"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const prefixVar = "BULWARK_REDISIDEMPOTENCY_PREFIX"

func TestMain(m *testing.M) {
	idempotencytest.MainKilledHolder(openHolder) // returns unless this process is a killed holder
	os.Exit(m.Run())
}

// openHolder opens the parent's store and counter, under its prefix, in
// the child process of TestKilledHolder.
func openHolder(context.Context) (idempotency.Store, idempotencytest.Counter, error) {
	c := redis.NewClient(&redis.Options{Addr: os.Getenv(testenv.RedisVar)})
	prefix := os.Getenv(prefixVar)
	return newStore(c, prefix), counter{c, prefix}, nil
}

func newStore(c *redis.Client, prefix string) *redisidempotency.Store {
	s, err := redisidempotency.New(c, redisidempotency.Config{Prefix: prefix + "rec:"})
	if err != nil {
		panic(err)
	}
	return s
}

// counter counts handler runs in Redis, under the test's prefix.
type counter struct {
	c      *redis.Client
	prefix string
}

func (c counter) Incr(ctx context.Context, key string) error {
	return c.c.Incr(ctx, c.prefix+"runs:"+key).Err()
}

func (c counter) Get(ctx context.Context, key string) (int, error) {
	n, err := c.c.Get(ctx, c.prefix+"runs:"+key).Int()
	if err == redis.Nil {
		return 0, nil
	}
	return n, err
}

func TestConformance(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		c, prefix := redistest.Client(t)
		return idempotencytest.Harness{Store: newStore(c, prefix), ExpiresByItself: true, Counter: counter{c, prefix}}
	})
}

func TestKilledHolder(t *testing.T) {
	idempotencytest.RunKilledHolder(t, func(t *testing.T) idempotencytest.KilledHolderHarness {
		c, prefix := redistest.Client(t)
		return idempotencytest.KilledHolderHarness{Store: newStore(c, prefix), Counter: counter{c, prefix}, ChildEnv: []string{prefixVar + "=" + prefix}}
	})
}

func TestRecordsExpireInRedis(t *testing.T) {
	c, prefix := redistest.Client(t)
	s := newStore(c, prefix)
	cfg := idempotency.DefaultConfig()
	k, err := idempotency.New(s, cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = idempotency.Do(ctx, k, idempotency.Request{Scope: "s", Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	keys, err := c.Keys(ctx, prefix+"rec:*").Result()
	require.NoError(t, err)
	require.Len(t, keys, 1)
	ttl, err := c.PTTL(ctx, keys[0]).Result()
	require.NoError(t, err)
	assert.InDelta(t, cfg.TTL.Seconds(), ttl.Seconds(), 60, "the record's key expires with the record")
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := redisidempotency.New(nil, redisidempotency.Config{Prefix: "p"})
	assert.EqualError(t, err, "redisidempotency: New needs a client, got nil")
	assert.PanicsWithValue(t, "redisidempotency: Store used without New", func() {
		_, _ = new(redisidempotency.Store).DeleteExpired(context.Background(), time.Now(), 1)
	})
}

// The zero Config writes under DefaultConfig's prefix.
func TestZeroConfigIsTheDefault(t *testing.T) {
	c, prefix := redistest.Client(t)
	s, err := redisidempotency.New(c, redisidempotency.Config{})
	require.NoError(t, err)
	key := prefix + "zero-config" // the test's prefix, inside the store's, so the test's cleanup finds it
	now := time.Now()
	_, err = s.Claim(context.Background(), idempotency.Claim{Ref: idempotency.Ref{Key: key}, Token: 1, Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)})
	require.NoError(t, err)
	keys, err := c.Keys(context.Background(), redisidempotency.DefaultConfig().Prefix+"*"+key).Result()
	require.NoError(t, err)
	assert.Len(t, keys, 1)
	require.NoError(t, c.Del(context.Background(), keys...).Err())
}

// FuzzNew feeds New arbitrary prefixes: every one makes a store whose
// records stay apart from another prefix's.
func FuzzNew(f *testing.F) {
	for _, seed := range []string{"", "p:", "{tag}", "a b", "\x00", "*?[]"} {
		f.Add(seed)
	}
	c, prefix := redistest.Client(f)
	f.Fuzz(func(t *testing.T, p string) {
		ctx := context.Background()
		mine, err := redisidempotency.New(c, redisidempotency.Config{Prefix: prefix + p})
		require.NoError(t, err)
		other, err := redisidempotency.New(c, redisidempotency.Config{Prefix: prefix + p + "other"})
		require.NoError(t, err)
		now := time.Now()
		ref := idempotency.Ref{Key: idempotencytest.RandomName("k-")}
		claim := idempotency.Claim{Ref: ref, Token: 1, Now: now, LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Minute)}
		rec, err := mine.Claim(ctx, claim)
		require.NoError(t, err)
		require.Equal(t, idempotency.Claimed, rec.State)
		claim.Token = 2
		rec, err = other.Claim(ctx, claim)
		require.NoError(t, err)
		require.Equal(t, idempotency.Claimed, rec.State, "another prefix, another record")
		require.NoError(t, mine.Release(ctx, ref, 1))
		require.NoError(t, other.Release(ctx, ref, 2))
	})
}
