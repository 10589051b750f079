package bulkhead

import (
	"cmp"
	"fmt"
	"time"
)

// Reconfigure applies cfg's MaxConcurrent, MaxWaiting and MaxWait while
// calls run, or returns an error naming the first invalid field of cfg and
// changes nothing. Zero fields take their defaults, as in New.
//
// No permit is lost or made up: a raised MaxConcurrent lets waiters in at
// once; a lowered one takes effect as permits come back (the calls running
// finish, and no new one starts until fewer than the new limit run). A
// lowered MaxWaiting turns away new waiters while the line is longer, and
// lets those already in line wait on; a new MaxWait applies to waits that
// start after it.
//
// Adaptive, and with it the ceiling MaxConcurrent it adapts under, is fixed
// at New: a cfg with another Adaptive or, for an adaptive bulkhead, another
// MaxConcurrent is refused naming the field. The functions and collaborators
// given to New (Name, Observer, Clock, Overloaded) stay; cfg's are not read.
// Safe to call during calls.
func (b *Bulkhead) Reconfigure(cfg Config) error {
	b.made()
	n := cfg.withDefaults()
	if err := n.validate("bulkhead: Config"); err != nil {
		return err
	}
	b.sem.mu.Lock()
	defer b.sem.mu.Unlock()
	old := b.cfg
	if b.est != nil || n.Adaptive != nil {
		switch {
		case !sameAdaptive(n.Adaptive, old.Adaptive):
			return fmt.Errorf("bulkhead: Config.Adaptive is fixed at New: the bulkhead runs with %v, got %v", old.Adaptive, n.Adaptive)
		case n.MaxConcurrent != old.MaxConcurrent:
			return fmt.Errorf("bulkhead: Config.MaxConcurrent is the ceiling of an Adaptive limit, fixed at New: %d, got %d", old.MaxConcurrent, n.MaxConcurrent)
		}
	}
	b.cfg.MaxConcurrent, b.cfg.MaxWaiting, b.cfg.MaxWait = n.MaxConcurrent, n.MaxWaiting, n.MaxWait
	b.maxWait.Store(int64(n.MaxWait))
	b.sem.maxWaiting.Store(uint64(n.MaxWaiting))
	if b.est == nil && n.MaxConcurrent != old.MaxConcurrent {
		b.sem.gate.Store(uint64(n.MaxConcurrent)) // clears fullBit: a hint, which the next caller corrects
		b.sem.grantWhileFree()
	}
	return nil
}

// Settings returns the Config the bulkhead runs with now: New's, zero
// fields spelled out, with the settings of the last successful Reconfigure.
func (b *Bulkhead) Settings() Config {
	b.made()
	b.sem.mu.Lock()
	defer b.sem.mu.Unlock()
	cfg := b.cfg
	cfg.MaxWait = time.Duration(b.maxWait.Load())
	return cfg
}

// sameAdaptive reports whether a and b are the same algorithm with the same
// settings (both nil, or equal values of one comparable type).
func sameAdaptive(a, b Adaptive) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a == b
}

// Reconfigure applies cfg's MaxConcurrent, MaxWaiting and MaxWait to every
// key's bulkhead, as Bulkhead.Reconfigure does, and to the bulkheads made
// for keys from now on. MaxIdleKeys, Adaptive and, with Adaptive, the
// ceiling MaxConcurrent are fixed at NewKeyed; a cfg with others is refused
// naming the field. An invalid cfg is refused with the settings left as
// they were. Safe to call during calls.
func (k *Keyed) Reconfigure(cfg KeyedConfig) error {
	n := cfg.Config.withDefaults()
	if err := n.validate("bulkhead: KeyedConfig"); err != nil {
		return err
	}
	k.lock()
	defer k.mu.Unlock()
	switch {
	case cmp.Or(cfg.MaxIdleKeys, defaultMaxIdleKeys) != k.maxIdle:
		return fmt.Errorf("bulkhead: KeyedConfig.MaxIdleKeys is fixed at NewKeyed: %d, got %d", k.maxIdle, cfg.MaxIdleKeys)
	case !sameAdaptive(n.Adaptive, k.cfg.Adaptive):
		return fmt.Errorf("bulkhead: KeyedConfig.Adaptive is fixed at NewKeyed: the bulkheads run with %v, got %v", k.cfg.Adaptive, n.Adaptive)
	case n.Adaptive != nil && n.MaxConcurrent != k.cfg.MaxConcurrent:
		return fmt.Errorf("bulkhead: KeyedConfig.MaxConcurrent is the ceiling of an Adaptive limit, fixed at NewKeyed: %d, got %d", k.cfg.MaxConcurrent, n.MaxConcurrent)
	}
	for _, e := range k.keys {
		if err := e.b.Reconfigure(n); err != nil {
			return err // not reached: n was checked against the same settings
		}
	}
	k.cfg.MaxConcurrent, k.cfg.MaxWaiting, k.cfg.MaxWait = n.MaxConcurrent, n.MaxWaiting, n.MaxWait
	if n.Adaptive == nil {
		k.initial = n.MaxConcurrent
	}
	return nil
}
