package circuitbreaker

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
)

func newKeyedTest(t *testing.T, mutate func(*KeyedConfig[string])) (*Keyed[string], *clocktest.Fake) {
	t.Helper()
	fake := clocktest.New(epoch)
	cfg := KeyedConfig[string]{Breaker: testConfig(fake), MaxKeys: 100}
	if mutate != nil {
		mutate(&cfg)
	}
	k, err := NewKeyed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k, fake
}

func tripKey(k *Keyed[string], key string) error {
	var err error
	for range 4 {
		err = k.Do(bg, key, failOp)
	}
	return err
}

func TestKeyedBreakersAreIndependent(t *testing.T) {
	k, _ := newKeyedTest(t, nil)
	_ = tripKey(k, "a")
	if err := k.Do(bg, "a", succeeds); !errors.Is(err, ErrOpen) {
		t.Fatalf("key a: %v, want ErrOpen", err)
	}
	if err := k.Do(bg, "b", succeeds); err != nil {
		t.Fatalf("key b: %v, want it unaffected by a", err)
	}
	if first, again := k.Breaker("a"), k.Breaker("a"); first != again {
		t.Fatal("Breaker returned different breakers for one key")
	}
	var oe *OpenError
	if err := k.Do(bg, "a", succeeds); !errors.As(err, &oe) || oe.Name != "a" {
		t.Fatalf("rejection %v, want it named after the key", err)
	}
}

func TestKeyedEventsCarryTheKey(t *testing.T) {
	var mu sync.Mutex
	var got []string
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) {
		c.Breaker.Name = "inventory"
		c.Breaker.Observer = hooks{
			change: func(ch StateChange) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, fmt.Sprintf("%s %v:%v", ch.Name, ch.Key, ch.To))
			},
			reject: func(e Rejected) {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, fmt.Sprintf("%s %v:rejected by %s", e.Name, e.Key, e.Err.Name))
			},
		}
	})
	_ = tripKey(k, "h1")
	_ = k.Do(bg, "h1", succeeds)
	want := []string{"inventory h1:open", "inventory h1:rejected by inventory/h1"}
	if !slices.Equal(got, want) {
		t.Fatalf("the observer saw %q, want %q", got, want)
	}
}

func TestKeyedMemoryIsBounded(t *testing.T) {
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxKeys = 10 })
	for i := range 1000 {
		_ = k.Do(bg, fmt.Sprint("key-", i), succeeds)
		if n := k.Metrics().Keys; n > 10 {
			t.Fatalf("%d keys kept after %d keys used, want at most 10", n, i+1)
		}
	}
	m := k.Metrics()
	if m.Keys != 10 || m.Evictions != 990 {
		t.Fatalf("metrics %+v, want 10 keys kept and 990 evictions", m)
	}
	n := 0
	k.entries.Range(func(any, any) bool { n++; return true })
	if n != 10 {
		t.Fatalf("the index holds %d keys, want 10", n)
	}
}

func TestKeyedEvictsClosedBeforeOpen(t *testing.T) {
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxKeys = 4 })
	for _, key := range []string{"bad1", "bad2", "bad3"} {
		_ = tripKey(k, key)
	}
	_ = k.Do(bg, "good", succeeds)
	for i := range 20 { // churn through new keys
		_ = k.Do(bg, fmt.Sprint("new-", i), succeeds)
	}
	for _, key := range []string{"bad1", "bad2", "bad3"} {
		if err := k.Do(bg, key, succeeds); !errors.Is(err, ErrOpen) {
			t.Fatalf("%s: %v; an open breaker was evicted while closed ones could go", key, err)
		}
	}
	if m := k.Metrics(); m.Open != 3 || m.Keys != 4 {
		t.Fatalf("metrics %+v, want 4 keys, 3 open", m)
	}
}

func TestKeyedEvictsOpenWhenNothingElseCanGo(t *testing.T) {
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxKeys = 2 })
	_ = tripKey(k, "a")
	_ = tripKey(k, "b")
	_ = k.Do(bg, "c", succeeds)
	m := k.Metrics()
	if m.Keys != 2 || m.Open != 1 || m.Evictions != 1 {
		t.Fatalf("metrics %+v, want 2 keys, 1 open (the evicted one released its place), 1 eviction", m)
	}
}

func TestKeyedMaxOpenPercent(t *testing.T) {
	k, fake := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxOpenPercent = 30 })
	for i := range 10 {
		_ = k.Do(bg, fmt.Sprint("h", i), succeeds)
	}
	var opened []string
	for i := range 10 {
		key := fmt.Sprint("h", i)
		if errors.Is(tripKey(k, key), ErrOpen) || k.Breaker(key).State() == StateOpen {
			opened = append(opened, key)
		}
	}
	if want := []string{"h0", "h1", "h2"}; !slices.Equal(opened, want) {
		t.Fatalf("opened %v, want %v: 30%% of 10 keys", opened, want)
	}
	m := k.Metrics()
	if m.Open != 3 || m.SuppressedTrips == 0 {
		t.Fatalf("metrics %+v, want 3 open and suppressed trips counted", m)
	}
	if got := k.Breaker("h5").Metrics(); got.State != StateClosed || got.Failures != 4 {
		t.Fatalf("held breaker %+v, want closed and still recording", got)
	}
	// h0 recovers: there is room again, and the next failure of a held
	// breaker opens it.
	fake.Advance(10 * time.Second)
	_ = k.Do(bg, "h0", succeeds)
	_ = k.Do(bg, "h0", succeeds)
	if s := k.Breaker("h0").State(); s != StateClosed {
		t.Fatalf("h0 %v, want closed", s)
	}
	_ = k.Do(bg, "h5", failOp)
	if s := k.Breaker("h5").State(); s != StateOpen {
		t.Fatalf("h5 %v after h0 closed, want open", s)
	}
	if m := k.Metrics(); m.Open != 3 {
		t.Fatalf("Open = %d, want 3", m.Open)
	}
}

func TestKeyedMaxOpenPercentAlwaysAllowsOne(t *testing.T) {
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxOpenPercent = 1 })
	_ = k.Do(bg, "b", succeeds)
	_ = tripKey(k, "a")
	if s := k.Breaker("a").State(); s != StateOpen {
		t.Fatalf("a %v, want open: one breaker may always open", s)
	}
	_ = tripKey(k, "b")
	if s := k.Breaker("b").State(); s != StateClosed {
		t.Fatalf("b %v, want held closed", s)
	}
}

func TestKeyedForceOpenIgnoresTheCapButCounts(t *testing.T) {
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxOpenPercent = 50 })
	_ = k.Do(bg, "a", succeeds)
	_ = k.Do(bg, "b", succeeds)
	k.Breaker("a").ForceOpen()
	k.Breaker("b").ForceOpen()
	if m := k.Metrics(); m.Open != 2 {
		t.Fatalf("Open = %d, want 2", m.Open)
	}
	k.Breaker("a").Reset()
	k.Breaker("b").Disable()
	if m := k.Metrics(); m.Open != 0 {
		t.Fatalf("Open = %d after Reset and Disable, want 0", m.Open)
	}
}

func TestKeyedRemove(t *testing.T) {
	k, _ := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxOpenPercent = 10 })
	_ = tripKey(k, "a")
	old := k.Breaker("a")
	if !k.Remove("a") || k.Remove("a") {
		t.Fatal("Remove should report true once, then false")
	}
	if m := k.Metrics(); m.Keys != 0 || m.Open != 0 {
		t.Fatalf("metrics %+v after Remove, want empty", m)
	}
	if k.Breaker("a") == old {
		t.Fatal("a removed key came back with its old breaker")
	}
	if err := k.Do(bg, "a", succeeds); err != nil {
		t.Fatalf("a after Remove: %v, want a fresh closed breaker", err)
	}
	// Removing from the middle keeps the ring consistent.
	for _, key := range []string{"x", "y", "z"} {
		_ = k.Do(bg, key, succeeds)
	}
	k.Remove("y")
	for i, e := range k.ring {
		if e.slot != i {
			t.Fatalf("ring slot %d holds an entry that thinks it is at %d", i, e.slot)
		}
	}
}

func TestKeyedConcurrentUse(t *testing.T) {
	k, fake := newKeyedTest(t, func(c *KeyedConfig[string]) { c.MaxKeys, c.MaxOpenPercent = 8, 50 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				key := fmt.Sprint("k", (i*7+g)%12)
				op := succeeds
				if i%3 == 0 {
					op = failOp
				}
				_ = k.Do(bg, key, op)
				if i%100 == 0 {
					fake.Advance(3 * time.Second)
				}
				if m := k.Metrics(); m.Keys > 8 || m.Open > 4 {
					t.Errorf("metrics %+v: over MaxKeys 8 or over 50%% open", m)
					return
				}
			}
		}()
	}
	wg.Wait()
	open := 0
	for _, e := range k.ring {
		if wordState(e.b.word.Load()).rejecting() {
			open++
		}
	}
	if m := k.Metrics(); int(m.Open) != open {
		t.Fatalf("Metrics.Open = %d but %d kept breakers reject calls", m.Open, open)
	}
}

func TestKeyedDoAllocatesNothingForAKnownKey(t *testing.T) {
	k, err := NewKeyed(DefaultKeyedConfig[string]())
	if err != nil {
		t.Fatal(err)
	}
	key := "10.0.0.7:8080"
	for range 200 {
		_ = k.Do(bg, key, succeeds)
	}
	if allocs := testing.AllocsPerRun(1000, func() { _ = k.Do(bg, key, succeeds) }); allocs != 0 {
		t.Fatalf("Keyed.Do allocates %v times per call, want 0", allocs)
	}
}
