package retry_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/retry/retrytest"
)

func TestMemorySinkConformance(t *testing.T) {
	retrytest.Run(t, func(t *testing.T) retrytest.Harness {
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
					out = append(out, stored(t, l))
				}
				return out, nil
			},
		}
	})
}

// stored is what a MemorySink letter would look like in encoded storage.
func stored(t *testing.T, l retry.DeadLetter[retrytest.Item]) retrytest.Stored {
	item, err := json.Marshal(l.Item)
	if err != nil {
		t.Fatal(err)
	}
	s := retrytest.Stored{Item: item, Err: errText(l.Err)}
	for _, a := range l.Attempts {
		s.Attempts = append(s.Attempts, retrytest.StoredAttempt{
			Number: a.Number, Start: a.Start, Duration: a.Duration, Err: errText(a.Err), Delay: a.Delay,
		})
	}
	return s
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
