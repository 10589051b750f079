package sagatest_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/saga/sagatest"
)

// A driver's conformance test: each call of the function gives the suite
// an empty store of its own. A store that other processes can open too
// (a database, a file) also sets Harness.Reopen, so that the suite's
// orchestrator instances each get their own handle on it.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		sagatest.Run(t, func(t *testing.T) sagatest.Harness {
			return sagatest.Harness{Store: saga.NewMemoryStore()}
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) in the driver's package
}
