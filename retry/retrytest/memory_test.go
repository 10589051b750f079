package retrytest_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/retry/retrytest"
)

// TestMemorySink holds retry.MemorySink to the suite, as every sink is.
func TestMemorySink(t *testing.T) {
	retrytest.Run(t, memoryHarness)
}
