package consume_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chance returns a number in [0, 100) fixed by the parts.
func chance(parts ...any) int {
	h := fnv.New32a()
	fmt.Fprint(h, parts...)
	return int(h.Sum32() % 100)
}

// TestManyKeysFailuresAndRestarts runs 2,000 messages over 40 keys (and
// some unkeyed) through consumers restarted three times, with handlers
// failing a fifth of their runs and a few messages poisoned: every message
// ends exactly once as handled or dead-lettered, the queue is empty, each
// key's outcomes are in publish order, and no two runs of a key overlap.
func TestManyKeysFailuresAndRestarts(t *testing.T) {
	leakcheck.Check(t)
	q := consume.NewMemoryQueue(nil)
	const n, keys = 2000, 40
	key := func(i int) string {
		if i%9 == 0 {
			return ""
		}
		return fmt.Sprintf("k%d", i%keys)
	}
	for i := range n {
		q.Publish(consume.Message{ID: fmt.Sprintf("m%d", i), Key: key(i), Payload: fmt.Append(nil, i)})
	}
	var mu sync.Mutex
	outcomes := map[string][]string{} // key -> IDs in the order they ended
	ended := map[string]int{}
	runningKeys := map[string]bool{}
	errPoison := errors.New("poison")
	h := consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		mu.Lock()
		if m.Key != "" {
			if runningKeys[m.Key] {
				t.Errorf("two runs of key %s at once", m.Key)
			}
			runningKeys[m.Key] = true
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(runningKeys, m.Key)
			mu.Unlock()
		}()
		time.Sleep(time.Duration(chance(m.ID, "sleep")%3) * 100 * time.Microsecond)
		if chance(m.ID) < 2 {
			return fmt.Errorf("message %s: %w", m.ID, errPoison)
		}
		if chance(m.ID, m.Attempt, time.Now().UnixNano()) < 20 {
			return errors.New("transient")
		}
		mu.Lock()
		defer mu.Unlock()
		if ended[m.ID] == 0 && m.Key != "" {
			outcomes[m.Key] = append(outcomes[m.Key], m.ID)
		}
		ended[m.ID]++
		return nil
	})
	var dead retry.MemorySink[consume.Message]
	recording := deadRecorder{sink: &dead, mu: &mu, outcomes: outcomes, ended: ended}
	cfg := consume.Config{
		Concurrency: 8, MaxPending: 64, MaxAttempts: 3, InPlaceAttempts: 1, DeadLetters: recording,
		InPlaceBackoff: retry.Constant{}, Redelivery: retry.Constant{Delay: time.Millisecond},
		RetryIf: func(err error) bool { return !errors.Is(err, errPoison) },
	}
	for round := range 4 {
		c, err := consume.New(q.Source(), h, cfg)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- c.Run(context.Background()) }()
		target := n * (round + 1) / 4
		require.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(ended) >= target
		}, 30*time.Second, time.Millisecond, "round %d", round)
		require.NoError(t, c.Close(context.Background()))
		require.NoError(t, <-done)
	}
	assert.Zero(t, q.Len(), "nothing left in the queue")
	assert.Equal(t, n, q.Acked())
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		assert.Equal(t, 1, ended[fmt.Sprintf("m%d", i)], "m%d ended once", i)
	}
	for k := range keys {
		var want []string
		for i := range n {
			if key(i) == fmt.Sprintf("k%d", k) {
				want = append(want, fmt.Sprintf("m%d", i))
			}
		}
		assert.Equal(t, want, outcomes[fmt.Sprintf("k%d", k)], "key k%d's outcomes in order", k)
	}
	t.Logf("%d dead letters", dead.Len())
	assert.NotZero(t, dead.Len())
}

// deadRecorder records a dead letter as its message's outcome.
type deadRecorder struct {
	sink     *retry.MemorySink[consume.Message]
	mu       *sync.Mutex
	outcomes map[string][]string
	ended    map[string]int
}

func (d deadRecorder) DeadLetter(ctx context.Context, l retry.DeadLetter[consume.Message]) error {
	d.mu.Lock()
	if d.ended[l.Item.ID] == 0 && l.Item.Key != "" {
		d.outcomes[l.Item.Key] = append(d.outcomes[l.Item.Key], l.Item.ID)
	}
	d.ended[l.Item.ID]++
	d.mu.Unlock()
	return d.sink.DeadLetter(ctx, l)
}
