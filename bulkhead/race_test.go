//go:build race

package bulkhead

import (
	"context"
	"errors"
	"testing"
	"unsafe"
)

// TestFullBulkheadRefusesWithoutWriting: once a call has found the bulkhead
// full, the calls refused after it only read the permit words. The race
// detector proves it: the test reads both words without synchronisation
// while other goroutines are refused, which it would report as a race with
// any write.
func TestFullBulkheadRefusesWithoutWriting(t *testing.T) {
	b, err := New(Config{MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, ok := b.TryAcquire(); !ok {
			t.Fatal("no permit")
		}
	}
	ctx := context.Background()
	if !errors.Is(b.Do(ctx, nil), ErrFull) { // the first refusal marks it full
		t.Fatal("admitted")
	}
	done := make(chan struct{})
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 1000 {
				if _, ok := b.TryAcquire(); ok || !errors.Is(b.Do(ctx, nil), ErrFull) {
					t.Error("admitted")
					return
				}
			}
		}()
	}
	var seen uint64
	for range 1000 {
		seen |= *(*uint64)(unsafe.Pointer(&b.sem.state)) | *(*uint64)(unsafe.Pointer(&b.sem.gate))
	}
	<-done
	<-done
	if seen == 0 {
		t.Fatal("read nothing")
	}
}
