package bulkhead

import (
	"cmp"
	"context"
	"fmt"
	"sync"
)

// KeyedConfig configures a Keyed bulkhead: the Config every key's bulkhead
// gets, and how many idle keys are remembered. The zero KeyedConfig is
// DefaultKeyedConfig.
type KeyedConfig struct {
	// Config is every key's configuration, its zero fields taking their
	// defaults as in New. Its Name and Observer serve every key; events
	// carry the key.
	Config
	// MaxIdleKeys is how many keys with no call running or waiting keep
	// their bulkhead, in [1, 2³¹-1]; beyond it the least recently used idle
	// ones are dropped. An idle fixed bulkhead holds nothing worth keeping,
	// but an Adaptive one holds the limit it has learnt: keep as many as
	// there are keys in regular use. Keys with calls running or waiting are
	// always kept, so their bound holds; there are never more of them than
	// calls. 0 means 1000.
	MaxIdleKeys int
}

// DefaultKeyedConfig returns the defaults a zero KeyedConfig stands for:
// DefaultConfig per key, remembering up to 1000 idle keys.
func DefaultKeyedConfig() KeyedConfig {
	return KeyedConfig{Config: DefaultConfig(), MaxIdleKeys: defaultMaxIdleKeys}
}

// Keyed keeps a bulkhead per key (per tenant, per downstream), so that one
// key's calls cannot take the permits of another. It is safe for concurrent
// use; make one with NewKeyed (the zero Keyed is not usable: its methods
// panic).
type Keyed struct {
	cfg     Config
	maxIdle int
	initial int // the limit of a new key's bulkhead

	mu    sync.Mutex
	keys  map[string]*keyedEntry
	idle  keyedEntry // sentinel of the idle keys, most recently used first
	nIdle int
}

type keyedEntry struct {
	b          *Bulkhead
	users      int // calls running or waiting
	prev, next *keyedEntry
}

// NewKeyed returns a Keyed bulkhead, or an error naming the first invalid
// field of cfg. Zero fields of cfg take their defaults.
func NewKeyed(cfg KeyedConfig) (*Keyed, error) {
	cfg.Config = cfg.Config.withDefaults()
	cfg.MaxIdleKeys = cmp.Or(cfg.MaxIdleKeys, defaultMaxIdleKeys)
	if err := cfg.validate("bulkhead: KeyedConfig"); err != nil {
		return nil, err
	}
	if cfg.MaxIdleKeys < 1 || cfg.MaxIdleKeys > maxCount {
		return nil, fmt.Errorf("bulkhead: KeyedConfig.MaxIdleKeys must be in [1, %d] (0 means %d), got %d", maxCount, defaultMaxIdleKeys, cfg.MaxIdleKeys)
	}
	k := &Keyed{cfg: cfg.Config, maxIdle: cfg.MaxIdleKeys, initial: cfg.MaxConcurrent, keys: make(map[string]*keyedEntry)}
	if cfg.Adaptive != nil {
		k.initial = cfg.Adaptive.newEstimator(cfg.MaxConcurrent).limit()
	}
	k.idle.prev, k.idle.next = &k.idle, &k.idle
	return k, nil
}

// Do runs op with a permit of key's bulkhead, as Bulkhead.Do does.
func (k *Keyed) Do(ctx context.Context, key string, op func(context.Context) error) error {
	e := k.use(key)
	defer k.done(e)
	return e.b.Do(ctx, op)
}

// Limit returns key's current limit; for a key not held, the limit it would
// start with.
func (k *Keyed) Limit(key string) int {
	k.lock()
	defer k.mu.Unlock()
	if e := k.keys[key]; e != nil {
		return e.b.Limit()
	}
	return k.initial
}

// Len returns the number of keys held: those in use and the remembered
// idle ones.
func (k *Keyed) Len() int {
	k.lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// lock takes k.mu of a Keyed made by NewKeyed, and panics on any other.
func (k *Keyed) lock() {
	k.mu.Lock()
	if k.keys == nil {
		k.mu.Unlock()
		panic("bulkhead: Keyed used without NewKeyed")
	}
}

// use returns key's entry, counting one more user so that it cannot be
// dropped while the call runs.
func (k *Keyed) use(key string) *keyedEntry {
	k.lock()
	e := k.keys[key]
	switch {
	case e == nil:
		e = &keyedEntry{b: newBulkhead(k.cfg, key)}
		k.keys[key] = e
	case e.users == 0:
		e.unlink()
		k.nIdle--
	}
	e.users++
	k.mu.Unlock()
	return e
}

// done counts a user off; the last one makes the key idle, which may drop
// the least recently used idle key.
func (k *Keyed) done(e *keyedEntry) {
	k.mu.Lock()
	if e.users--; e.users == 0 {
		e.prev, e.next = &k.idle, k.idle.next
		e.prev.next, e.next.prev = e, e
		if k.nIdle++; k.nIdle > k.maxIdle {
			last := k.idle.prev
			last.unlink()
			k.nIdle--
			delete(k.keys, last.b.key)
		}
	}
	k.mu.Unlock()
}

func (e *keyedEntry) unlink() {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
