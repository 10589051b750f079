package ratelimit

import (
	"cmp"
	"context"
	"fmt"
	"sync/atomic"
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
	limits atomic.Pointer[limits] // nil in a Keyed not made by NewKeyed
	cfg    KeyedConfig
	clock  clockBase
	store  Store // nil only in a Keyed not made by NewKeyed
	name   string
	obs    bulwark.Observer
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
	k := &Keyed{cfg: cfg, clock: newClockBase(cfg.Clock), store: store, name: cfg.Name, obs: cfg.Observer}
	k.limits.Store(&limits{rule: r, maxWait: cfg.MaxWait})
	return k, nil
}

// Rule returns the limit each key gets.
func (k *Keyed) Rule() Rule { return k.load().rule }

// Reconfigure applies cfg's Algorithm, Limit, Period, Burst and MaxWait to
// every key, for the calls that start from now on, or returns an error
// naming the first invalid field of cfg and changes nothing. Each key's
// state in the Store is kept, and read under the new limits as
// Limiter.Reconfigure describes; after a change of Algorithm a key is
// counted by the state that algorithm has for it, which is empty unless the
// key was counted by it before (a Store keeps the two apart). The
// Store, MaxKeys and the collaborators given to NewKeyed (Name, Observer,
// Clock) stay; cfg's are not read. Safe to call during calls.
func (k *Keyed) Reconfigure(cfg Config) error {
	k.load()
	r, err := cfg.withDefaults().rule("ratelimit: Config")
	if err != nil {
		return err
	}
	k.limits.Store(&limits{rule: r, maxWait: cfg.MaxWait})
	return nil
}

// Settings returns the KeyedConfig the Keyed limiter runs with now:
// NewKeyed's, with the limits of the last successful Reconfigure.
func (k *Keyed) Settings() KeyedConfig {
	lim := k.load()
	cfg := k.cfg
	cfg.Algorithm, cfg.Limit, cfg.Period, cfg.Burst = lim.rule.Algorithm, lim.rule.Limit, lim.rule.Period, lim.rule.Burst
	cfg.MaxWait = lim.maxWait
	return cfg
}

func (k *Keyed) load() *limits {
	lim := k.limits.Load()
	if lim == nil {
		panic("ratelimit: Keyed used without NewKeyed")
	}
	return lim
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
	return k.wait(ctx, k.load(), key)
}

func (k *Keyed) wait(ctx context.Context, lim *limits, key string) error {
	d, err := k.take(ctx, lim, key)
	if err != nil || d == 0 {
		return err
	}
	if lim.maxWait == 0 {
		return k.reject(ctx, key, d)
	}
	var storeErr error
	deadline := k.now() + int64(lim.maxWait)
	err = waitLoop(ctx, k.clock.clock, d, k.now, deadline,
		func() int64 {
			d, err := k.take(ctx, lim, key)
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
	if err := k.wait(ctx, k.load(), key); err != nil {
		return err
	}
	return op(ctx)
}

func (k *Keyed) allow(ctx context.Context, key string) error {
	d, err := k.take(ctx, k.load(), key)
	if err != nil || d == 0 {
		return err
	}
	return k.reject(ctx, key, d)
}

func (k *Keyed) take(ctx context.Context, lim *limits, key string) (int64, error) {
	d, err := k.store.Take(ctx, key, lim.rule, k.clock.time())
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
