package clocktest_test

import (
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeFiresTimersInDeadlineOrder(t *testing.T) {
	fc := clocktest.New(epoch)
	late := fc.NewTimer(3 * time.Second)
	early := fc.NewTimer(time.Second)
	never := fc.NewTimer(time.Minute)
	fc.Advance(5 * time.Second)
	assert.Equal(t, epoch.Add(time.Second), <-early.C())
	assert.Equal(t, epoch.Add(3*time.Second), <-late.C())
	assert.Equal(t, epoch.Add(5*time.Second), fc.Now())
	select {
	case <-never.C():
		t.Fatal("timer fired before its deadline")
	default:
	}
	assert.Equal(t, 1, fc.Timers())
}

func TestFakeStop(t *testing.T) {
	fc := clocktest.New(epoch)
	tm := fc.NewTimer(time.Second)
	assert.True(t, tm.Stop())
	assert.False(t, tm.Stop(), "second Stop reports the timer was already stopped")
	fc.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	fired := fc.NewTimer(time.Second)
	fc.Advance(time.Second)
	assert.False(t, fired.Stop(), "Stop after firing reports false")
}

func TestFakeZeroDurationFiresAtOnce(t *testing.T) {
	fc := clocktest.New(epoch)
	tm := fc.NewTimer(0)
	assert.Equal(t, epoch, <-tm.C())
	assert.Equal(t, 0, fc.Timers())
}

func TestFakeSetBackwardsFiresNothing(t *testing.T) {
	fc := clocktest.New(epoch)
	tm := fc.NewTimer(time.Second)
	fc.Set(epoch.Add(-time.Hour))
	assert.Equal(t, epoch.Add(-time.Hour), fc.Now())
	select {
	case <-tm.C():
		t.Fatal("timer fired when time moved backwards")
	default:
	}
}

// within fails the test unless c is closed within 5 seconds: a broken
// BlockUntil fails the test instead of hanging it.
func within(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not within 5s", what)
	}
}

func TestFakeBlockUntil(t *testing.T) {
	fc := clocktest.New(epoch)
	ready := make(chan struct{})
	go func() {
		fc.BlockUntil(2)
		close(ready)
	}()
	fc.NewTimer(time.Second)
	select {
	case <-ready:
		t.Fatal("BlockUntil(2) returned while one timer was waiting")
	default:
	}
	fc.NewTimer(time.Second)
	within(t, ready, "BlockUntil(2) returning once two timers wait")

	// Enough timers already waiting: it returns at once.
	again := make(chan struct{})
	go func() {
		fc.BlockUntil(2)
		close(again)
	}()
	within(t, again, "BlockUntil(2) returning with two timers waiting")
}

func TestFakeBlockUntilCountsOnlyWaitingTimers(t *testing.T) {
	fc := clocktest.New(epoch)
	fc.NewTimer(time.Second).Stop()
	fc.NewTimer(0) // fires at once: never waits
	fc.NewTimer(time.Second)
	fc.Advance(time.Second)
	assert.Equal(t, 0, fc.Timers())
	ready := make(chan struct{})
	go func() {
		fc.BlockUntil(1)
		close(ready)
	}()
	select {
	case <-ready:
		t.Fatal("BlockUntil(1) counted a stopped, an immediate or a fired timer")
	default:
	}
	fc.NewTimer(time.Minute)
	within(t, ready, "BlockUntil(1) returning once a timer waits")
}

// TestZeroFakePanicsClearly: a Fake not made by New panics with a message
// that says so, from every method, instead of failing deep inside a later
// call (NewTimer or BlockUntil on a nil condition).
func TestZeroFakePanicsClearly(t *testing.T) {
	const want = "clocktest: Fake used without New"
	for name, call := range map[string]func(f *clocktest.Fake){
		"Now":        func(f *clocktest.Fake) { _ = f.Now() },
		"NewTimer":   func(f *clocktest.Fake) { _ = f.NewTimer(time.Second) },
		"Advance":    func(f *clocktest.Fake) { f.Advance(time.Second) },
		"Set":        func(f *clocktest.Fake) { f.Set(epoch) },
		"Timers":     func(f *clocktest.Fake) { _ = f.Timers() },
		"BlockUntil": func(f *clocktest.Fake) { f.BlockUntil(1) },
	} {
		assert.PanicsWithValue(t, want, func() { call(new(clocktest.Fake)) }, name)
	}
}
