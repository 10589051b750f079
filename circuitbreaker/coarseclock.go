package circuitbreaker

import (
	"sync/atomic"
	"time"
)

// The coarse clock: the system clock read once a millisecond by one
// goroutine, so that breakers which time every call (slow-call detection,
// time-based windows) pay a few atomic loads for it instead of a system
// clock read (about 50 ns, more than a whole closed-breaker call). The state
// machine's own waits read the system clock: they are rare, and must not
// lag.
//
// The goroutine runs only while breakers read the clock: it stops after
// coarseIdleTicks ticks without a reader, and the next reader starts it
// again (reading the system clock itself that once). While the process is
// so starved of CPU that the goroutine cannot run on time, the clock lags,
// and durations measured with it read short.
const (
	coarseTick      = time.Millisecond
	coarseIdleTicks = 20
)

var coarse struct {
	origin  time.Time // coarse readings are nanoseconds since origin
	now     atomic.Int64
	running atomic.Bool
	read    atomic.Bool // set by readers, cleared by each tick
}

func init() { coarse.origin = time.Now() }

// coarseNow returns the coarse clock: monotonic nanoseconds since the
// package was loaded, at most about a millisecond behind the system clock.
func coarseNow() int64 {
	if !coarse.running.Load() {
		return startCoarse()
	}
	if !coarse.read.Load() {
		coarse.read.Store(true)
	}
	return coarse.now.Load()
}

func startCoarse() int64 {
	now := storeCoarse()
	if coarse.running.CompareAndSwap(false, true) {
		go tickCoarse()
	}
	return now
}

// storeCoarse reads the system clock and moves the coarse clock forward to
// it (never back: the ticker and a starting reader may race).
func storeCoarse() int64 {
	now := int64(time.Since(coarse.origin))
	for {
		old := coarse.now.Load()
		if now <= old {
			return old
		}
		if coarse.now.CompareAndSwap(old, now) {
			return now
		}
	}
}

func tickCoarse() {
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for idle := 0; idle < coarseIdleTicks; {
		<-t.C
		storeCoarse()
		if coarse.read.Swap(false) {
			idle = 0
		} else {
			idle++
		}
	}
	// A reader that saw running just before this still gets a time at most a
	// tick old; the next one restarts the clock.
	coarse.running.Store(false)
}
