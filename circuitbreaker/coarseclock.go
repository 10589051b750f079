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
	origin time.Time // coarse readings are nanoseconds since origin
	now    atomic.Int64
	// flags holds coarseRunning while the goroutine runs, and coarseRead
	// once a reader has read the clock since the last tick.
	flags atomic.Uint32
}

const (
	coarseRunning = 1 << iota
	coarseRead
)

func init() { coarse.origin = time.Now() }

// coarseNow returns the coarse clock: monotonic nanoseconds since the
// package was loaded, at most about a millisecond behind the system clock.
// Its common case, a running clock already read in this tick, is two
// loads.
func coarseNow() int64 {
	if coarse.flags.Load() == coarseRunning|coarseRead {
		return coarse.now.Load()
	}
	return coarseNowSlow()
}

// coarseNowSlow marks the clock read, starting it if it is not running.
func coarseNowSlow() int64 {
	for {
		f := coarse.flags.Load()
		if f&coarseRunning == 0 {
			now := storeCoarse()
			if coarse.flags.CompareAndSwap(f, coarseRunning|coarseRead) {
				go tickCoarse()
			}
			return now
		}
		if f&coarseRead != 0 || coarse.flags.CompareAndSwap(f, f|coarseRead) {
			return coarse.now.Load()
		}
	}
}

// coarseIsRunning reports whether the clock's goroutine runs.
func coarseIsRunning() bool { return coarse.flags.Load()&coarseRunning != 0 }

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
		if coarse.flags.And(^uint32(coarseRead))&coarseRead != 0 {
			idle = 0
		} else {
			idle++
		}
	}
	// Only this goroutine clears coarseRunning, so no other can start
	// before it has. A reader that saw it set just before still gets a
	// time at most a tick old; the next one restarts the clock.
	coarse.flags.Store(0)
}
