package idempotencytest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
)

// A driver's conformance test: Run calls newHarness for each subtest, and
// each harness holds an empty store of its own.
func ExampleRun() {
	newHarness := func(t *testing.T) idempotencytest.Harness {
		return idempotencytest.Harness{
			Store:   idempotency.NewMemoryStore(), // a fresh schema, table or key prefix of a real back end
			Counter: idempotencytest.NewMemoryCounter(),
		}
	}
	// In the driver's _test.go file:
	//
	//	func TestConformance(t *testing.T) { idempotencytest.Run(t, newHarness) }
	h := newHarness(nil)
	fmt.Printf("%T\n", h.Store)
	// Output:
	// *idempotency.MemoryStore
}

// The counter the duplicate-request tests count handler runs with; a
// driver gives one kept in its database, so that runs in several
// processes add up.
func ExampleNewMemoryCounter() {
	c := idempotencytest.NewMemoryCounter()
	ctx := context.Background()
	_ = c.Incr(ctx, "key-1")
	_ = c.Incr(ctx, "key-1")
	n, _ := c.Get(ctx, "key-1")
	fmt.Println(n)
	// Output:
	// 2
}
