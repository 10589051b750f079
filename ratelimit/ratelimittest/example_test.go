package ratelimittest_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/ratelimit/ratelimittest"
)

// A store's package runs the suite from a test, handing it a fresh store
// for each subtest. A store shared between processes also sets
// Harness.Peer, a second client on the same state. (The suite needs the
// test's *testing.T, so this example only compiles.)
func ExampleRun() {
	testMemoryStore := func(t *testing.T) { // func TestMemoryStore(t *testing.T) in a _test.go file
		ratelimittest.Run(t, func(t *testing.T) ratelimittest.Harness {
			store, err := ratelimit.NewMemoryStore(ratelimit.MemoryStoreConfig{MaxKeys: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return ratelimittest.Harness{Store: store}
		})
	}
	_ = testMemoryStore
}
