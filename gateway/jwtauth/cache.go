package jwtauth

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// tokenCache remembers verified tokens, keyed by the token's exact bytes
// (the whole string is the map key, so a hit is a byte-for-byte equal
// token), so that a token seen again skips the decoding and the signature
// check. It holds at most its capacity, split over shards, each a map
// under its own lock with CLOCK (second chance) eviction: a hit takes a
// shard's read lock and sets the entry's used bit; an insert into a full
// shard evicts the first entry, from the hand on, that was not used since
// the hand last passed it (or is already expired or stale).
type tokenCache struct {
	seed   maphash.Seed
	mask   uint64
	shards []cacheShard
}

type cacheShard struct {
	mu       sync.RWMutex
	entries  map[string]*cacheEntry
	ring     []*cacheEntry // the entries, in no order; len ≤ capacity
	hand     int
	capacity int
	_        [64]byte // keeps shards' locks off one another's cache lines
}

// cacheEntry is one verified token: what Verify returned for it, the key
// set generation it was verified under and its time bounds.
type cacheEntry struct {
	token string
	p     *Principal
	keys  *issuerKeys
	gen   uint64    // keys' generation when the signature was checked
	exp   time.Time // the token's "exp"
	nbf   time.Time // its "nbf", zero when none
	used  atomic.Bool
	slot  int // index in the shard's ring; guarded by the shard's mu
}

// cacheShardMin is the fewest entries a shard is given: below it the
// cache has fewer shards, so that eviction still has a choice.
const (
	cacheMaxShards = 32
	cacheShardMin  = 8
)

// newTokenCache returns a cache of at most size entries (size ≥ 1).
func newTokenCache(size int) *tokenCache {
	n := 1
	for n < cacheMaxShards && n*2*cacheShardMin <= size {
		n *= 2
	}
	c := &tokenCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n)}
	for i := range c.shards {
		c.shards[i].capacity = size / n
		c.shards[i].entries = make(map[string]*cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(token string) *cacheShard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, token)&c.mask]
}

// get returns the entry of token, or nil, and marks it used.
func (c *tokenCache) get(token string) *cacheEntry {
	s := c.shard(token)
	s.mu.RLock()
	e := s.entries[token]
	s.mu.RUnlock()
	if e != nil && !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// current reports whether e was verified under its issuer's current key
// set: false once a fetch brought a different key set.
func (e *cacheEntry) current() bool { return e.keys.generation() == e.gen }

// put stores e, replacing an entry of the same token, and evicts one entry
// when the shard is full. now tells expired entries, which go first.
func (c *tokenCache) put(e *cacheEntry, now time.Time, leeway time.Duration) {
	s := c.shard(e.token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[e.token]; old != nil {
		e.slot = old.slot
		s.ring[e.slot] = e
		s.entries[e.token] = e
		return
	}
	if len(s.ring) < s.capacity {
		e.slot = len(s.ring)
		s.ring = append(s.ring, e)
		s.entries[e.token] = e
		return
	}
	// CLOCK: two passes at most, since the first clears every used bit.
	for {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		v := s.ring[s.hand]
		if v.used.Load() && v.current() && now.Before(v.exp.Add(leeway)) {
			v.used.Store(false)
			s.hand++
			continue
		}
		delete(s.entries, v.token)
		e.slot = s.hand
		s.ring[s.hand] = e
		s.entries[e.token] = e
		s.hand++
		return
	}
}

// remove deletes e if it is still the entry of its token.
func (c *tokenCache) remove(e *cacheEntry) {
	s := c.shard(e.token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries[e.token] != e {
		return
	}
	delete(s.entries, e.token)
	last := len(s.ring) - 1
	if e.slot != last {
		moved := s.ring[last]
		moved.slot = e.slot
		s.ring[e.slot] = moved
	}
	s.ring[last] = nil
	s.ring = s.ring[:last]
}

// len returns the number of entries held.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
