package retrytest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/retry/retrytest"
)

// memoryHarness gives each subtest a fresh retry.MemorySink, whose
// "storage" is its own list; a queue or table sink reads back what its
// broker or database holds instead.
func memoryHarness(t *testing.T) retrytest.Harness {
	sink := new(retry.MemorySink[retrytest.Item])
	return retrytest.Harness{
		Sink: sink,
		ReadBack: func(ctx context.Context, n int) ([]retrytest.Stored, error) {
			for sink.Len() < n {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
			var out []retrytest.Stored
			for _, l := range sink.Letters()[:n] {
				item, err := json.Marshal(l.Item)
				if err != nil {
					return nil, err
				}
				s := retrytest.Stored{Item: item, Err: text(l.Err)}
				for _, a := range l.Attempts {
					s.Attempts = append(s.Attempts, retrytest.StoredAttempt{
						Number: a.Number, Start: a.Start, Duration: a.Duration, Err: text(a.Err), Delay: a.Delay,
					})
				}
				out = append(out, s)
			}
			return out, nil
		},
	}
}

func text(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A sink's test file runs the suite with a harness that gives each subtest
// fresh storage and reads it back: here, MemorySink's (this package's
// TestMemorySink runs exactly this).
func ExampleRun() {
	testMemorySink := func(t *testing.T) { // func TestMemorySink(t *testing.T) in a _test.go file
		retrytest.Run(t, memoryHarness)
	}
	_ = testMemorySink
}
