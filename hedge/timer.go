package hedge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// stopper stops a function scheduled by afterFunc. It is a value, not an
// interface, so that scheduling on the system clock allocates only the
// timer.
type stopper struct {
	system  *time.Timer // on the system clock
	other   *clockStopper
	running *sync.WaitGroup
}

// Stop prevents the function from running if it has not started, and
// reports whether it did.
func (s stopper) Stop() bool {
	if s.other != nil {
		return s.other.Stop()
	}
	if s.system.Stop() {
		s.running.Done()
		return true
	}
	return false
}

// afterFunc runs f on its own goroutine once d has passed on c, unless
// stopped first. The caller has added one to running; f must call
// running.Done when it returns, and when f will never run the stopper does.
// On the system clock no goroutine exists until the time comes; other
// clocks (a test's fake) have timers with channels only, which a goroutine
// waits on.
func afterFunc(c clock.Clock, system bool, d time.Duration, f func(), running *sync.WaitGroup) stopper {
	if system {
		return stopper{system: time.AfterFunc(d, f), running: running}
	}
	s := &clockStopper{timer: c.NewTimer(d), stop: make(chan struct{})}
	go func() {
		select {
		case <-s.timer.C():
			if s.state.CompareAndSwap(pending, fired) {
				f()
				return
			}
		case <-s.stop:
		}
		running.Done()
	}()
	return stopper{other: s}
}

const (
	pending int32 = iota
	fired
	stopped
)

type clockStopper struct {
	timer clock.Timer
	stop  chan struct{}
	state atomic.Int32
}

func (s *clockStopper) Stop() bool {
	if !s.state.CompareAndSwap(pending, stopped) {
		return false
	}
	s.timer.Stop()
	close(s.stop)
	return true
}
