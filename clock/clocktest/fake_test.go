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

func TestFakeBlockUntil(t *testing.T) {
	fc := clocktest.New(epoch)
	ready := make(chan struct{})
	go func() {
		fc.BlockUntil(2)
		close(ready)
	}()
	fc.NewTimer(time.Second)
	fc.NewTimer(time.Second)
	<-ready
}
