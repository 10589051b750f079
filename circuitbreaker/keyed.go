package circuitbreaker

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// KeyedConfig configures a Keyed set of breakers. The zero KeyedConfig is
// DefaultKeyedConfig: zero fields take the defaults their comments name.
type KeyedConfig[K comparable] struct {
	// Breaker is the configuration of every key's breaker, its zero fields
	// taking their defaults as in New. Its Name, if set, is the Component
	// of every key's events and prefixes each key's name in rejections
	// ("inventory/host-3"). Its Observer receives the events of every key's
	// breaker, with their Key set.
	Breaker Config

	// MaxKeys bounds memory: at most this many breakers are kept. When a new
	// key would exceed it, a breaker that has not been used recently is
	// dropped (closed ones before open ones), and its key starts afresh if it
	// comes back. In [1, 2³¹-1]; 0 means 10000.
	MaxKeys int

	// MaxOpenPercent caps the share of keys whose breakers may be open,
	// half-open or forced open at once, in percent of the keys kept (at
	// least one may always open), as Envoy's max_ejection_percent does: when
	// most hosts look bad, the cause is more likely the caller or the network
	// than every host, and opening every breaker would take the whole service
	// down. A breaker held closed by the cap keeps recording and opens once
	// there is room. 0, the default, sets no cap; otherwise in (0, 100].
	MaxOpenPercent float64
}

// DefaultKeyedConfig returns the defaults a zero KeyedConfig stands for:
// DefaultConfig for each key, at most 10000 keys, and no cap on the open
// share.
func DefaultKeyedConfig[K comparable]() KeyedConfig[K] {
	return KeyedConfig[K]{Breaker: DefaultConfig(), MaxKeys: defaultKeyedMaxKeys}
}

// Keyed is a set of breakers, one per key (a host, an endpoint, a tenant),
// made on first use from one configuration. It is safe for concurrent use.
// The zero Keyed is not usable: its methods panic.
type Keyed[K comparable] struct {
	cfg  KeyedConfig[K]
	gate ejectionGate

	entries sync.Map // K → *keyedEntry[K]; lock-free reads on the hot path

	mu        sync.Mutex // guards ring, hand and making or dropping entries
	made      bool       // set by NewKeyed
	ring      []*keyedEntry[K]
	hand      int
	evictions uint64
}

type keyedEntry[K comparable] struct {
	key  K
	b    *Breaker
	used atomic.Bool // set by calls, cleared by the eviction sweep
	slot int         // index in ring
}

// NewKeyed returns an empty Keyed, or an error naming the first invalid
// setting of cfg. Zero fields of cfg take their defaults.
func NewKeyed[K comparable](cfg KeyedConfig[K]) (*Keyed[K], error) {
	cfg.Breaker = cfg.Breaker.withDefaults()
	cfg.MaxKeys = cmp.Or(cfg.MaxKeys, defaultKeyedMaxKeys)
	if err := cfg.Breaker.validate(); err != nil {
		return nil, fmt.Errorf("circuitbreaker: KeyedConfig.Breaker: %w", err)
	}
	switch {
	case cfg.MaxKeys < 1 || cfg.MaxKeys > maxCount:
		return nil, invalidKeyed("MaxKeys", fmt.Sprintf("be in [1, %d] (0 means %d)", maxCount, defaultKeyedMaxKeys), cfg.MaxKeys)
	case cfg.MaxOpenPercent != 0 && !inRange(cfg.MaxOpenPercent, 0, 100):
		return nil, invalidKeyed("MaxOpenPercent", "be 0 (no cap) or in (0, 100]", cfg.MaxOpenPercent)
	}
	k := &Keyed[K]{cfg: cfg, made: true}
	k.gate.percent.Store(math.Float64bits(cfg.MaxOpenPercent))
	return k, nil
}

// Reconfigure applies cfg.Breaker's state-machine settings to every breaker
// of the set, as Breaker.Reconfigure does, and to the breakers made from now
// on, and cfg.MaxOpenPercent to the trips from now on (breakers open beyond
// a lowered cap stay open until they close). MaxKeys, like a breaker's
// Window and SlowCallDuration, is fixed at NewKeyed; a cfg with another is
// refused, naming the field. An invalid cfg is refused with the settings
// left as they were. Safe to call during calls.
func (k *Keyed[K]) Reconfigure(cfg KeyedConfig[K]) error {
	k.lock()
	n := cfg.Breaker.withDefaults()
	err := k.checkReconfigure(cfg, n)
	if err != nil {
		k.mu.Unlock()
		return err
	}
	n.Name, n.Observer, n.Clock, n.IsFailure, n.IsIgnored = k.cfg.Breaker.Name, k.cfg.Breaker.Observer, k.cfg.Breaker.Clock, k.cfg.Breaker.IsFailure, k.cfg.Breaker.IsIgnored
	k.cfg.Breaker = n
	k.cfg.MaxOpenPercent = cfg.MaxOpenPercent
	k.gate.percent.Store(math.Float64bits(cfg.MaxOpenPercent))
	breakers := make([]*Breaker, len(k.ring))
	for i, e := range k.ring {
		breakers[i] = e.b
	}
	k.mu.Unlock()
	// Outside the set's lock: a breaker that trips reports it to the
	// Observer as it returns. Breakers made meanwhile have the new settings.
	for _, b := range breakers {
		if err := b.Reconfigure(n); err != nil {
			return err // not reached: n was checked
		}
	}
	return nil
}

func (k *Keyed[K]) checkReconfigure(cfg KeyedConfig[K], n Config) error {
	if m := cmp.Or(cfg.MaxKeys, defaultKeyedMaxKeys); m != k.cfg.MaxKeys {
		return invalidKeyed("MaxKeys", fmt.Sprintf("stay %d: it is fixed at NewKeyed", k.cfg.MaxKeys), m)
	}
	if cfg.MaxOpenPercent != 0 && !inRange(cfg.MaxOpenPercent, 0, 100) {
		return invalidKeyed("MaxOpenPercent", "be 0 (no cap) or in (0, 100]", cfg.MaxOpenPercent)
	}
	if n.Window != k.cfg.Breaker.Window || n.SlowCallDuration != k.cfg.Breaker.SlowCallDuration {
		return invalidKeyed("Breaker", "keep the Window and SlowCallDuration given to NewKeyed", fmt.Sprintf("%v and %v", n.Window, n.SlowCallDuration))
	}
	if err := n.validate(); err != nil {
		return fmt.Errorf("circuitbreaker: KeyedConfig.Breaker: %w", err)
	}
	return nil
}

func invalidKeyed(field, rule string, got any) error {
	return fmt.Errorf("circuitbreaker: KeyedConfig.%s must %s, got %v", field, rule, got)
}

// Do runs op through key's breaker, as Breaker.Do.
func (k *Keyed[K]) Do(ctx context.Context, key K, op func(context.Context) error) error {
	return k.Breaker(key).Do(ctx, op)
}

// Breaker returns key's breaker, making it if needed. A caller may keep it
// (for Allow, or to read its metrics), but once the key is evicted or
// removed the set makes a new breaker for it and the kept one no longer
// counts toward MaxOpenPercent.
func (k *Keyed[K]) Breaker(key K) *Breaker {
	if v, ok := k.entries.Load(key); ok {
		e := v.(*keyedEntry[K])
		if !e.used.Load() {
			e.used.Store(true)
		}
		return e.b
	}
	return k.add(key)
}

func (k *Keyed[K]) add(key K) *Breaker {
	k.lock()
	defer k.mu.Unlock()
	if v, ok := k.entries.Load(key); ok {
		return v.(*keyedEntry[K]).b
	}
	cfg := k.cfg.Breaker
	cfg.Name = fmt.Sprint(key)
	if k.cfg.Breaker.Name != "" {
		cfg.Name = k.cfg.Breaker.Name + "/" + cfg.Name
	}
	e := &keyedEntry[K]{key: key, b: newBreaker(cfg, &k.gate, k.cfg.Breaker.Name, key)}
	e.used.Store(true)
	if len(k.ring) < k.cfg.MaxKeys {
		e.slot = len(k.ring)
		k.ring = append(k.ring, e)
		k.gate.keys.Add(1)
	} else {
		victim := k.ring[k.victim()]
		k.drop(victim)
		e.slot = victim.slot
		k.ring[e.slot] = e
		k.evictions++
	}
	k.entries.Store(key, e)
	return e.b
}

// lock takes k.mu of a Keyed made by NewKeyed, and panics on any other.
func (k *Keyed[K]) lock() {
	k.mu.Lock()
	if !k.made {
		k.mu.Unlock()
		panic("circuitbreaker: Keyed used without NewKeyed")
	}
}

// victim picks the slot to evict with the CLOCK algorithm: sweep from the
// hand, giving each recently used entry a second chance (clearing its mark),
// and take the first entry neither used nor rejecting calls. Two sweeps
// without one fall back to any unused entry, then to any entry.
func (k *Keyed[K]) victim() int {
	n := len(k.ring)
	for pass := 0; ; pass++ {
		for range n {
			i := k.hand
			k.hand = (k.hand + 1) % n
			e := k.ring[i]
			if pass < 3 && e.used.Load() {
				e.used.Store(false)
				continue
			}
			if pass < 2 && wordState(e.b.word.Load()).rejecting() {
				continue
			}
			return i
		}
	}
}

// drop detaches e's breaker from the set: it no longer counts toward the
// open share. Under k.mu.
func (k *Keyed[K]) drop(e *keyedEntry[K]) {
	k.entries.Delete(e.key)
	b := e.b
	b.mu.Lock()
	if wordState(b.word.Load()).rejecting() {
		k.gate.release()
	}
	b.gate = nil
	b.mu.Unlock()
}

// Remove forgets key's breaker (a host that left service discovery, say).
// It reports whether the key was there.
func (k *Keyed[K]) Remove(key K) bool {
	k.lock()
	defer k.mu.Unlock()
	v, ok := k.entries.Load(key)
	if !ok {
		return false
	}
	e := v.(*keyedEntry[K])
	k.drop(e)
	last := k.ring[len(k.ring)-1]
	last.slot = e.slot
	k.ring[e.slot] = last
	k.ring[len(k.ring)-1] = nil
	k.ring = k.ring[:len(k.ring)-1]
	if k.hand >= len(k.ring) {
		k.hand = 0
	}
	k.gate.keys.Add(-1)
	return true
}

// KeyedMetrics is a snapshot of a Keyed set.
type KeyedMetrics struct {
	// Keys is the number of breakers kept.
	Keys int
	// Open is the number of them open, half-open or forced open.
	Open int
	// SuppressedTrips counts the times a breaker would have opened but
	// MaxOpenPercent held it closed.
	SuppressedTrips uint64
	// Evictions counts breakers dropped to stay within MaxKeys.
	Evictions uint64
}

// Metrics returns a snapshot of the set. Each key's own metrics are on its
// Breaker.
func (k *Keyed[K]) Metrics() KeyedMetrics {
	k.lock()
	defer k.mu.Unlock()
	return KeyedMetrics{
		Keys:            len(k.ring),
		Open:            int(k.gate.open.Load()),
		SuppressedTrips: k.gate.suppressed.Load(),
		Evictions:       k.evictions,
	}
}

// ejectionGate counts the breakers of a Keyed set that reject calls and
// holds back trips beyond MaxOpenPercent. Breakers call it under their own
// lock; it uses only atomics.
type ejectionGate struct {
	percent    atomic.Uint64 // math.Float64bits of MaxOpenPercent; 0: no cap
	keys       atomic.Int64
	open       atomic.Int64
	suppressed atomic.Uint64
}

// tryAcquire takes a place for a breaker about to trip, if the cap allows.
func (g *ejectionGate) tryAcquire() bool {
	for {
		cur := g.open.Load()
		if p := math.Float64frombits(g.percent.Load()); p > 0 {
			limit := max(1, int64(p*float64(g.keys.Load())/100))
			if cur >= limit {
				g.suppressed.Add(1)
				return false
			}
		}
		if g.open.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// force takes a place regardless of the cap (an operator's ForceOpen).
func (g *ejectionGate) force() { g.open.Add(1) }

func (g *ejectionGate) release() { g.open.Add(-1) }
