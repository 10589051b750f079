package loadtest

import (
	"sync/atomic"
	"testing"
)

func TestWhileCallsUntilChangeReturnsAndWaits(t *testing.T) {
	var running, calls atomic.Int64
	While(4, func() {
		running.Add(1)
		calls.Add(1)
		running.Add(-1)
	}, func() {
		for calls.Load() < 100 {
		}
	})
	if running.Load() != 0 {
		t.Fatal("While returned with calls in flight")
	}
	n := calls.Load()
	if n < 100 {
		t.Fatalf("calls = %d, want at least 100", n)
	}
	if calls.Load() != n {
		t.Fatal("calls went on after While returned")
	}
}
