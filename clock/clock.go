// Package clock is the time source of every time-dependent type in bulwark.
//
// Every Config with a Clock field treats nil as System, the real clock
// (OrSystem). Tests pass a clocktest.Fake, which moves only when the test
// advances it, so tests of time-dependent behaviour are exact and never
// sleep. Sleep is the one way bulwark waits on a Clock: it waits the full
// duration on that clock, or returns the context's error as soon as the
// context ends, and stops its timer either way.
//
// The package has no configuration and reports no events.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that delivers the time on its channel once,
	// after at least d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer, as time.Timer.
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether the call
	// stopped the timer (false if it had already fired or been stopped).
	Stop() bool
}

// System is the real clock, backed by package time.
var System Clock = systemClock{}

// OrSystem returns c, or System when c is nil. Configurations use it to treat
// an unset Clock as the real one.
func OrSystem(c Clock) Clock {
	if c == nil {
		return System
	}
	return c
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// Sleep waits for d on clock c, or until ctx is done. It returns nil after
// the full wait and ctx.Err() if ctx ended it first. A d of zero or less
// returns at once (ctx.Err() if ctx is already done).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}
