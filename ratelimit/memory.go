package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"time"
)

// MemoryStore is the in-process Store: per-key state in sharded maps, each
// shard guarded by its own mutex and bounded by least-recently-used
// eviction, so memory stays within MaxKeys entries however many keys
// callers use. An evicted key starts again with a full bucket (an empty
// window); a key idle for a Period or longer had reached that state anyway,
// so eviction loses information only when more than MaxKeys keys are active
// within one Period. It is safe for concurrent use; make one with
// NewMemoryStore (the zero MemoryStore is not usable: Take panics).
type MemoryStore struct {
	seed   maphash.Seed
	mask   uint64
	shards []memoryShard
}

var _ Store = (*MemoryStore)(nil)

type memoryShard struct {
	mu   sync.Mutex
	keys map[string]*memoryEntry
	lru  memoryEntry // sentinel of the recency ring: lru.next is the most recent
	max  int
	base timeBase // set by the first Take
	_    [64]byte // keep neighbouring shards' locks off this cache line
}

type memoryEntry struct {
	key        string
	prev, next *memoryEntry
	latest     int64 // the latest time a Take for key was made at
	tat        int64
	win        window
}

// MemoryStoreConfig configures a MemoryStore. The zero MemoryStoreConfig
// is the default.
type MemoryStoreConfig struct {
	// MaxKeys is the most keys the store holds, in [1, 2³¹-1]; beyond it
	// the least recently used are forgotten. 0 means 10,000.
	MaxKeys int
}

// NewMemoryStore returns a MemoryStore, or an error naming the invalid
// field of cfg. Zero fields of cfg take their defaults.
func NewMemoryStore(cfg MemoryStoreConfig) (*MemoryStore, error) {
	cfg.MaxKeys = cmp.Or(cfg.MaxKeys, defaultMaxKeys)
	s, err := newMemoryStore(cfg.MaxKeys)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: MemoryStoreConfig.MaxKeys must be in [1, %d] (0 means %d), got %d", maxCount, defaultMaxKeys, cfg.MaxKeys)
	}
	return s, nil
}

// errMaxKeys is newMemoryStore's refusal, which each caller words for the
// field it took the bound from.
var errMaxKeys = errors.New("ratelimit: MaxKeys out of range")

// newMemoryStore returns a store of maxKeys keys, or errMaxKeys.
func newMemoryStore(maxKeys int) (*MemoryStore, error) {
	if maxKeys < 1 || maxKeys > maxCount {
		return nil, errMaxKeys
	}
	return newShardedStore(maxKeys, shardCount(maxKeys)), nil
}

// shardCount picks a power of two, up to 64, that leaves each shard at least
// 64 keys, so that per-shard eviction stays close to a global LRU.
func shardCount(maxKeys int) int {
	n := min(maxKeys/64, 64)
	if n <= 1 {
		return 1
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

func newShardedStore(maxKeys, shards int) *MemoryStore {
	s := &MemoryStore{seed: maphash.MakeSeed(), mask: uint64(shards - 1), shards: make([]memoryShard, shards)}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.keys = make(map[string]*memoryEntry)
		sh.lru.prev, sh.lru.next = &sh.lru, &sh.lru
		sh.max = maxKeys / shards
		if i < maxKeys%shards {
			sh.max++
		}
	}
	return s
}

// Take implements Store. It never returns an error.
func (s *MemoryStore) Take(_ context.Context, key string, rule Rule, now time.Time) (time.Duration, error) {
	s.made()
	sh := &s.shards[maphash.String(s.seed, key)&s.mask]
	sh.mu.Lock()
	if sh.base.base.IsZero() {
		sh.base = newTimeBase(now)
	}
	e := sh.entry(key)
	// Calls race to the lock: one that read the clock earlier may get here
	// after one that read it later. Deciding at the later time keeps the
	// earlier reading from making the call look early.
	e.latest = max(e.latest, sh.base.unixNano(now))
	t := e.latest
	var d int64
	if rule.Algorithm == SlidingWindow {
		d = e.win.take(t, int64(rule.Period), int64(rule.Limit))
	} else {
		e.tat, d = takeToken(e.tat, t, rule.interval(), rule.tolerance())
	}
	sh.mu.Unlock()
	return time.Duration(d), nil
}

// Len returns the number of keys the store holds.
func (s *MemoryStore) Len() int {
	s.made()
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.keys)
		sh.mu.Unlock()
	}
	return n
}

// made panics unless NewMemoryStore made s.
func (s *MemoryStore) made() {
	if s.shards == nil {
		panic("ratelimit: MemoryStore used without NewMemoryStore")
	}
}

// entry returns key's entry, made most recent, creating it (and evicting the
// least recent when the shard is full) if needed. The caller holds mu.
func (sh *memoryShard) entry(key string) *memoryEntry {
	e := sh.keys[key]
	if e != nil {
		if sh.lru.next != e {
			e.unlink()
			sh.pushFront(e)
		}
		return e
	}
	if len(sh.keys) >= sh.max {
		e = sh.lru.prev
		e.unlink()
		delete(sh.keys, e.key)
		*e = memoryEntry{}
	} else {
		e = new(memoryEntry)
	}
	e.key, e.latest = key, math.MinInt64
	sh.keys[key] = e
	sh.pushFront(e)
	return e
}

func (sh *memoryShard) pushFront(e *memoryEntry) {
	e.prev, e.next = &sh.lru, sh.lru.next
	e.prev.next, e.next.prev = e, e
}

func (e *memoryEntry) unlink() {
	e.prev.next, e.next.prev = e.next, e.prev
}
