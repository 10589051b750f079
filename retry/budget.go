package retry

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// None, as BudgetConfig.Ratio or BudgetConfig.MinPerSecond, turns that
// source of retries off (a zero field means its default). Setting both to
// None is an error: such a budget would allow no retry at all.
const None float64 = -1

// The defaults that zero BudgetConfig fields stand for: the budget Finagle
// made its default.
const (
	// DefaultRatio is BudgetConfig.Ratio when it is 0.
	DefaultRatio = 0.1
	// DefaultMinPerSecond is BudgetConfig.MinPerSecond when it is 0.
	DefaultMinPerSecond = 10.0
	// DefaultWindow is BudgetConfig.Window when it is 0.
	DefaultWindow = 10 * time.Second
)

// BudgetConfig configures a Budget. The zero BudgetConfig is the default
// configuration (see DefaultBudgetConfig).
type BudgetConfig struct {
	// Ratio is how many retries each call earns: 0.1 lets retries add at
	// most 10% to the load the callers put on the downstream. 0 means
	// DefaultRatio (0.1), None earns nothing per call; otherwise in
	// (0, 100].
	Ratio float64
	// MinPerSecond is a floor of retries allowed whatever the traffic, so
	// that callers with little traffic can still retry: MinPerSecond ×
	// Window seconds retries per Window. 0 means DefaultMinPerSecond (10),
	// None sets no floor; otherwise in (0, 1e6]. Ratio and MinPerSecond
	// may not both be None.
	MinPerSecond float64
	// Window is how far back calls and retries count: 0 means
	// DefaultWindow (10s), otherwise in (0, 1h]. The budget forgets in
	// tenths of it.
	Window time.Duration
	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
}

// DefaultBudgetConfig returns the defaults that the zero BudgetConfig stands
// for, spelled out: retries may add 10% to the load, plus 10 retries per
// second, counted over the last ten seconds.
func DefaultBudgetConfig() BudgetConfig {
	return BudgetConfig{Ratio: DefaultRatio, MinPerSecond: DefaultMinPerSecond, Window: DefaultWindow}
}

// budgetBuckets is the number of slices a Budget's window is kept in.
const budgetBuckets = 10

// Budget limits the retries of every Retrier that shares it — all callers of
// one downstream — to Ratio × calls + MinPerSecond × Window seconds within
// any Window. Past that, a call that would retry gives up at once with
// ErrBudgetExhausted. Without a budget, a downstream in trouble receives
// MaxAttempts times its normal load from callers that all retry; with one,
// at most 1 + Ratio times (plus the floor). Budget is safe for concurrent
// use. The zero Budget is not usable: make one with NewBudget.
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

// NewBudget returns a Budget with no calls and no retries counted, or an
// error naming the first invalid setting.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	// Written so that NaN fails: every comparison with NaN is false.
	switch {
	case !(cfg.Ratio == None || (cfg.Ratio >= 0 && cfg.Ratio <= 100)):
		return nil, fmt.Errorf("retry: BudgetConfig.Ratio must be retry.None or in [0, 100], got %v", cfg.Ratio)
	case !(cfg.MinPerSecond == None || (cfg.MinPerSecond >= 0 && cfg.MinPerSecond <= 1e6)):
		return nil, fmt.Errorf("retry: BudgetConfig.MinPerSecond must be retry.None or in [0, 1e6], got %v", cfg.MinPerSecond)
	case cfg.Ratio == None && cfg.MinPerSecond == None:
		return nil, fmt.Errorf("retry: BudgetConfig.Ratio and BudgetConfig.MinPerSecond are both retry.None, which allows no retry; set one of them")
	case cfg.Window < 0 || cfg.Window > time.Hour:
		return nil, fmt.Errorf("retry: BudgetConfig.Window must be in [0, 1h] (0 means %v), got %v", DefaultWindow, cfg.Window)
	}
	ratio, perSecond, window := cfg.Ratio, cfg.MinPerSecond, cfg.Window
	switch ratio {
	case 0:
		ratio = DefaultRatio
	case None:
		ratio = 0
	}
	switch perSecond {
	case 0:
		perSecond = DefaultMinPerSecond
	case None:
		perSecond = 0
	}
	if window == 0 {
		window = DefaultWindow
	}
	c := clock.OrSystem(cfg.Clock)
	width := window / budgetBuckets
	if width == 0 {
		width = 1
	}
	return &Budget{
		clock:  c,
		ratio:  ratio,
		floor:  perSecond * window.Seconds(),
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
