package bulkhead

import (
	"context"
	"errors"
	"testing"

	"github.com/failsafe-go/failsafe-go"
	fsbulkhead "github.com/failsafe-go/failsafe-go/bulkhead"

	"github.com/bulwark-go/bulwark/bulkhead"
)

// TestPanicKeepsThePermit replays the failsafe-go 0.9.8 bug the issue
// names: a call that panics inside a bulkhead of one never gives its permit
// back, so every later call is rejected. bulwark releases the permit on the
// way out of the panic.
func TestPanicKeepsThePermit(t *testing.T) {
	panicking := func() error { panic("boom") }
	survive := func(f func()) {
		defer func() { _ = recover() }()
		f()
	}

	fs := fsbulkhead.New[any](1)
	ex := failsafe.With[any](fs)
	survive(func() { _ = ex.Run(panicking) })
	err := ex.Run(func() error { return nil })
	if !errors.Is(err, fsbulkhead.ErrFull) {
		t.Fatalf("failsafe-go: after a panic the next call got %v; the bug this test replays is gone, update the test", err)
	}
	t.Logf("failsafe-go: after one panic, the bulkhead of one rejects every call: %v", err)

	b, err := bulkhead.New(bulkhead.Config{MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	survive(func() { _ = b.Do(ctx, func(context.Context) error { return panicking() }) })
	if err := b.Do(ctx, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("bulwark: after a panic the next call got %v", err)
	}
	t.Logf("bulwark: after one panic, %d permits in flight, and the next call runs", b.InFlight())
}
