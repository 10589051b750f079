package redisidempotency_test

import (
	"context"
	"os"
	"testing"

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
	testenv.Main(m, map[string]func(){
		"holder": func() {
			c := redis.NewClient(&redis.Options{Addr: os.Getenv(testenv.RedisVar)})
			idempotencytest.HolderChild(newStore(c, os.Getenv(prefixVar)), counter{c, os.Getenv(prefixVar)})
		},
	})
}

func newStore(c *redis.Client, prefix string) *redisidempotency.Store {
	s, err := redisidempotency.New(redisidempotency.Config{Client: c, Prefix: prefix + "rec:"})
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
	var c *redis.Client
	var prefix string
	idempotencytest.Run(t, func(t *testing.T) idempotency.Store {
		c, prefix = redistest.Client(t)
		return newStore(c, prefix)
	}, idempotencytest.Options{
		ExpiresByItself: true,
		NewCounter:      func(t *testing.T) idempotencytest.Counter { return counter{c, prefix} },
	})
}

func TestKilledHolder(t *testing.T) {
	testenv.SkipUnderRace(t)
	c, prefix := redistest.Client(t)
	idempotencytest.KilledHolder(t, newStore(c, prefix), counter{c, prefix}, testenv.Command(t, "holder", prefixVar+"="+prefix))
}

func TestRecordsExpireInRedis(t *testing.T) {
	c, prefix := redistest.Client(t)
	s := newStore(c, prefix)
	cfg := idempotency.DefaultConfig()
	cfg.Store = s
	k, err := idempotency.New(cfg)
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
	_, err := redisidempotency.New(redisidempotency.Config{Prefix: "p"})
	assert.EqualError(t, err, "redisidempotency: Config.Client must be set")
	_, err = redisidempotency.New(redisidempotency.Config{Client: redis.NewClient(&redis.Options{})})
	assert.EqualError(t, err, "redisidempotency: Config.Prefix must not be empty")
}
