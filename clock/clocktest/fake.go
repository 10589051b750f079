// Package clocktest provides a manual clock for tests.
//
// A Fake moves only when the test calls Advance or Set, and fires the
// timers due by then in deadline order, each with its own deadline as the
// time delivered; BlockUntil tells the test when the code under test has
// started waiting, so tests never sleep to wait for a state. The package
// has no configuration and reports no events.
package clocktest

import (
	"sort"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Fake is a clock.Clock that moves only when told to. Its timers fire during
// Advance or Set, in deadline order, once the fake time reaches them. It is
// safe for concurrent use. Make one with New: the zero Fake panics.
type Fake struct {
	mu      sync.Mutex
	changed *sync.Cond // broadcast when timers are added, fired or stopped
	now     time.Time
	timers  []*fakeTimer
}

var _ clock.Clock = (*Fake)(nil)

// New returns a Fake that reads start until moved.
func New(start time.Time) *Fake {
	f := &Fake{now: start}
	f.changed = sync.NewCond(&f.mu)
	return f
}

// check panics if f was not made by New: a zero Fake has no condition to
// wake BlockUntil with, and would fail deep inside a later call.
func (f *Fake) check() {
	if f.changed == nil {
		panic("clocktest: Fake used without New")
	}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.check()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches Now()+d. A
// timer with d <= 0 fires at once.
func (f *Fake) NewTimer(d time.Duration) clock.Timer {
	f.check()
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{f: f, at: f.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- f.now
		return t
	}
	f.timers = append(f.timers, t)
	f.changed.Broadcast()
	return t
}

// Advance moves the fake time forward by d, firing every timer due on the way
// with its own deadline as the time delivered.
func (f *Fake) Advance(d time.Duration) {
	f.check()
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves the fake time to t, firing every timer due by then in deadline
// order. Moving backwards fires nothing.
func (f *Fake) Set(t time.Time) {
	f.check()
	f.mu.Lock()
	defer f.mu.Unlock()
	sort.SliceStable(f.timers, func(i, j int) bool { return f.timers[i].at.Before(f.timers[j].at) })
	fired := 0
	for _, tm := range f.timers {
		if tm.at.After(t) {
			break
		}
		if tm.at.After(f.now) {
			f.now = tm.at
		}
		tm.c <- tm.at
		fired++
	}
	f.timers = f.timers[fired:]
	f.now = t
	if fired > 0 {
		f.changed.Broadcast()
	}
}

// Timers returns the number of timers waiting to fire.
func (f *Fake) Timers() int {
	f.check()
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// BlockUntil waits until at least n timers are waiting to fire. Tests call it
// to know that the code under test has started waiting before they Advance,
// instead of sleeping and hoping.
func (f *Fake) BlockUntil(n int) {
	f.check()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.timers) < n {
		f.changed.Wait()
	}
}

type fakeTimer struct {
	f  *Fake
	at time.Time
	c  chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	for i, other := range t.f.timers {
		if other == t {
			t.f.timers = append(t.f.timers[:i], t.f.timers[i+1:]...)
			t.f.changed.Broadcast()
			return true
		}
	}
	return false
}
