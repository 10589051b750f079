package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
)

// KeyedConfig configures a Keyed limiter: the limit every key gets, and
// where the keys' state lives. The zero KeyedConfig is DefaultKeyedConfig.
type KeyedConfig struct {
	// Config is every key's limit, its zero fields taking their defaults as
	// in New. Its Name and Observer serve every key; events carry the key.
	Config
	// MaxKeys bounds the keys the built-in memory store holds, in [1,
	// 2³¹-1]: beyond it, the least recently used keys are forgotten (see
	// MemoryStore). 0 means 10,000. It is not used when Store is set.
	MaxKeys int
	// Store, when set, holds the keys' state instead of an in-memory store
	// of MaxKeys keys: a shared store makes the limit hold across processes.
	Store Store
}

// DefaultKeyedConfig returns the defaults a zero KeyedConfig stands for:
// DefaultConfig for each key, in memory, for up to 10,000 keys.
func DefaultKeyedConfig() KeyedConfig {
	return KeyedConfig{Config: DefaultConfig(), MaxKeys: defaultMaxKeys}
}

// Keyed is a rate limiter with a separate limit per key: per client, tenant
// or route. It is safe for concurrent use; make one with NewKeyed (the zero
// Keyed is not usable: its methods panic). With the memory store, a
// permitted call costs a clock read, a hash and one short critical section
// on one of up to 64 shards, and allocates nothing once its key is known.
type Keyed struct {
	rule    Rule
	maxWait time.Duration
	clock   clockBase
	store   Store // nil only in a Keyed not made by NewKeyed
	name    string
	obs     bulwark.Observer
}

// NewKeyed returns a Keyed limiter, or an error naming the first invalid
// field of cfg. Zero fields of cfg take their defaults.
func NewKeyed(cfg KeyedConfig) (*Keyed, error) {
	cfg.Config = cfg.Config.withDefaults()
	r, err := cfg.rule("ratelimit: KeyedConfig")
	if err != nil {
		return nil, err
	}
	store := cfg.Store
	if store == nil {
		cfg.MaxKeys = cmp.Or(cfg.MaxKeys, defaultMaxKeys)
		if store, err = newMemoryStore(cfg.MaxKeys); err != nil {
			return nil, fmt.Errorf("ratelimit: KeyedConfig.MaxKeys must be in [1, %d] (0 means %d), got %d", maxCount, defaultMaxKeys, cfg.MaxKeys)
		}
	}
	return &Keyed{rule: r, maxWait: cfg.MaxWait, clock: newClockBase(cfg.Clock), store: store, name: cfg.Name, obs: cfg.Observer}, nil
}

// Rule returns the limit each key gets.
func (k *Keyed) Rule() Rule {
	if k.store == nil {
		panic("ratelimit: Keyed used without NewKeyed")
	}
	return k.rule
}

// Allow takes a permit for one call under key now, or returns a
// *LimitedError (matching ErrLimited and bulwark.ErrRejected) saying when
// to retry. It never waits.
// An error of the Store is returned wrapped, and does not match ErrLimited.
// Allow gives the Store no deadline; with a Store that does I/O, Wait (in
// reject mode, MaxWait 0, it never waits either) bounds the Store's work by
// its ctx.
func (k *Keyed) Allow(key string) error {
	return k.allow(context.Background(), key)
}

// Wait takes a permit for one call under key, waiting for it as
// Limiter.Wait does. ctx also bounds the Store's work.
func (k *Keyed) Wait(ctx context.Context, key string) error {
	d, err := k.take(ctx, key)
	if err != nil || d == 0 {
		return err
	}
	if k.maxWait == 0 {
		return k.reject(ctx, key, d)
	}
	var storeErr error
	deadline := k.now() + int64(k.maxWait)
	err = waitLoop(ctx, k.clock.clock, d, k.now, deadline,
		func() int64 {
			d, err := k.take(ctx, key)
			if err != nil {
				storeErr = err
				return 0
			}
			return d
		},
		func(d int64) error { return k.reject(ctx, key, d) })
	if storeErr != nil {
		return storeErr
	}
	return err
}

// Do runs op if key's limit permits a call, as Limiter.Do does.
func (k *Keyed) Do(ctx context.Context, key string, op func(context.Context) error) error {
	var err error
	if k.maxWait == 0 {
		err = k.allow(ctx, key)
	} else {
		err = k.Wait(ctx, key)
	}
	if err != nil {
		return err
	}
	return op(ctx)
}

func (k *Keyed) allow(ctx context.Context, key string) error {
	d, err := k.take(ctx, key)
	if err != nil || d == 0 {
		return err
	}
	return k.reject(ctx, key, d)
}

func (k *Keyed) take(ctx context.Context, key string) (int64, error) {
	if k.store == nil {
		panic("ratelimit: Keyed used without NewKeyed")
	}
	d, err := k.store.Take(ctx, key, k.rule, k.clock.time())
	if err != nil {
		return 0, fmt.Errorf("ratelimit: store: %w", err)
	}
	return int64(d), nil
}

func (k *Keyed) now() int64 { return k.clock.now() }

// reject reports a rejection and returns its error.
func (k *Keyed) reject(ctx context.Context, key string, d int64) error {
	if k.obs != nil {
		k.obs.Observe(ctx, Rejected{Name: k.name, Key: key, RetryAfter: time.Duration(d)})
	}
	return limited(d)
}
