package retry

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// Ratio is how many retries each call earns: 0.1 lets retries add at
	// most 10% to the load the callers put on the downstream. In [0, 100].
	Ratio float64
	// MinPerSecond is a floor of retries allowed whatever the traffic, so
	// that callers with little traffic can still retry: MinPerSecond ×
	// Window seconds retries per Window. In [0, 1e6]; Ratio and MinPerSecond
	// may not both be 0.
	MinPerSecond float64
	// Window is how far back calls and retries count, in (0, 1h]. The
	// budget forgets in tenths of it.
	Window time.Duration
	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
}

// DefaultBudgetConfig returns the budget Finagle made the default: retries
// may add 10% to the load, plus 10 retries per second, counted over the last
// ten seconds.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{Ratio: 0.1, MinPerSecond: 10, Window: 10 * time.Second}
}

// budgetBuckets is the number of slices a Budget's window is kept in.
const budgetBuckets = 10

// Budget limits the retries of every Retrier that shares it — all callers of
// one downstream — to Ratio × calls + MinPerSecond × Window seconds within
// any Window. Past that, a call that would retry gives up at once with
// ErrBudgetExhausted. Without a budget, a downstream in trouble receives
// MaxAttempts times its normal load from callers that all retry; with one,
// at most 1 + Ratio times (plus the floor). Budget is safe for concurrent
// use.
//
// Counting a call costs one atomic add; one call in 64 also reads the clock
// and files the calls counted so far in the window's slices, as does every
// retry. Calls counted between two filings are spread evenly over the time
// between them, so at most 63 calls are ever placed in time by estimate.
type Budget struct {
	calls atomic.Int64 // every call ever counted

	clock  clock.Clock
	ratio  float64
	floor  float64 // MinPerSecond × Window seconds
	width  time.Duration
	origin time.Time

	mu          sync.Mutex
	slot        int64 // index of the newest slice, in widths since origin
	callsIn     [budgetBuckets]float64
	retriesIn   [budgetBuckets]float64
	syncedCalls int64         // calls already assigned to slices
	syncedAt    time.Duration // since origin, when they were
}

// NewBudget returns a Budget with no calls and no retries counted.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	switch {
	case !(cfg.Ratio >= 0 && cfg.Ratio <= 100):
		return nil, fmt.Errorf("retry: BudgetConfig.Ratio must be in [0, 100], got %v", cfg.Ratio)
	case !(cfg.MinPerSecond >= 0 && cfg.MinPerSecond <= 1e6):
		return nil, fmt.Errorf("retry: BudgetConfig.MinPerSecond must be in [0, 1e6], got %v", cfg.MinPerSecond)
	case cfg.Ratio == 0 && cfg.MinPerSecond == 0:
		return nil, fmt.Errorf("retry: BudgetConfig.Ratio and BudgetConfig.MinPerSecond are both 0, which allows no retry; set one of them")
	case cfg.Window <= 0 || cfg.Window > time.Hour:
		return nil, fmt.Errorf("retry: BudgetConfig.Window must be in (0, 1h], got %v", cfg.Window)
	}
	c := clock.OrSystem(cfg.Clock)
	width := cfg.Window / budgetBuckets
	if width == 0 {
		width = 1
	}
	return &Budget{
		clock:  c,
		ratio:  cfg.Ratio,
		floor:  cfg.MinPerSecond * cfg.Window.Seconds(),
		width:  width,
		origin: c.Now(),
	}, nil
}

// syncEvery is how many calls pass between two syncs from the call path. It
// bounds how many calls the budget must place in time by guessing.
const syncEvery = 64

// deposit counts a call.
func (b *Budget) deposit() {
	if b.calls.Add(1)%syncEvery == 0 {
		now := b.clock.Now()
		b.mu.Lock()
		b.sync(now)
		b.mu.Unlock()
	}
}

// withdraw takes a token for one retry and reports whether there was one.
func (b *Budget) withdraw() bool {
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sync(now)
	var calls, retries float64
	for i := range budgetBuckets {
		calls += b.callsIn[i]
		retries += b.retriesIn[i]
	}
	if b.ratio*calls+b.floor-retries < 1 {
		return false
	}
	b.retriesIn[b.slot%budgetBuckets]++
	return true
}

// sync moves the window to now and spreads the calls counted since the last
// sync evenly over the time since then. b.mu is held.
func (b *Budget) sync(now time.Time) {
	t := max(now.Sub(b.origin), b.syncedAt) // a clock stepping back moves nothing
	slot := int64(t / b.width)
	if slot-b.slot >= budgetBuckets {
		b.callsIn, b.retriesIn = [budgetBuckets]float64{}, [budgetBuckets]float64{}
	} else {
		for s := b.slot + 1; s <= slot; s++ {
			b.callsIn[s%budgetBuckets], b.retriesIn[s%budgetBuckets] = 0, 0
		}
	}
	b.slot = slot

	total := b.calls.Load()
	delta := float64(total - b.syncedCalls)
	b.syncedCalls = total
	if delta <= 0 {
		b.syncedAt = t
		return
	}
	span := t - b.syncedAt
	if span <= 0 {
		b.callsIn[slot%budgetBuckets] += delta
		return
	}
	first := max(int64(b.syncedAt/b.width), slot-budgetBuckets+1)
	for s := first; s <= slot; s++ {
		lo := max(time.Duration(s)*b.width, b.syncedAt)
		hi := min(time.Duration(s+1)*b.width, t)
		if hi > lo {
			b.callsIn[s%budgetBuckets] += delta * float64(hi-lo) / float64(span)
		}
	}
	b.syncedAt = t
}
