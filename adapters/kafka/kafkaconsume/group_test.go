package kafkaconsume_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumersShareAGroupThroughARebalance: a second Consumer joins the
// group while the first is mid-way through 1,000 messages over 40 keys and
// 4 partitions. Every message is handled, each key's messages for the
// first time in publish order, a key is never handled by both consumers at
// once, and at the end everything is committed.
func TestConsumersShareAGroupThroughARebalance(t *testing.T) {
	const n, keys = 1000, 40
	e := newEnv(t, 4)
	prod := kafkatest.Client(t, e.c) // partitions by key
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		rec := &kgo.Record{Topic: e.topic, Key: fmt.Appendf(nil, "k%d", i%keys), Value: fmt.Appendf(nil, "%d", i),
			Headers: []kgo.RecordHeader{{Key: kafkaconsume.IDHeader, Value: fmt.Appendf(nil, "m%d", i)}}}
		prod.Produce(ctx, rec, func(_ *kgo.Record, err error) { require.NoError(t, err) })
	}
	require.NoError(t, prod.Flush(ctx))

	var mu sync.Mutex
	handled := map[string]int{}
	firsts := map[string][]string{}
	running := map[string]string{} // key -> consumer running it
	var overlaps []string
	by := map[string]int{}       // first-time handlings per consumer
	moved := make(chan struct{}) // closed when a revocation gave b partitions
	var movedOnce sync.Once
	handler := func(name string) consume.Handler {
		return consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
			select {
			case <-moved:
			default:
				// Until the rebalance, a handler is slow, so that it
				// happens mid-way through.
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			if other, ok := running[m.Key]; ok {
				overlaps = append(overlaps, fmt.Sprintf("%s on %s and %s", m.Key, other, name))
			}
			running[m.Key] = name
			if handled[m.ID] == 0 {
				firsts[m.Key] = append(firsts[m.Key], m.ID)
				by[name]++
			}
			handled[m.ID]++
			mu.Unlock()
			mu.Lock()
			delete(running, m.Key)
			mu.Unlock()
			return nil
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(handled)
	}
	fast := []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}
	start := func(name string) (*consume.Consumer, chan error) {
		obs := bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
			if r, ok := ev.(kafkaconsume.Revoked); ok && len(r.Partitions[e.topic]) > 0 {
				movedOnce.Do(func() { close(moved) })
			}
		})
		c, err := consume.New(e.source(t, kafkaconsume.Config{Name: name, Observer: obs, Opts: fast, CommitInterval: 50 * time.Millisecond}),
			handler(name), consume.Config{Concurrency: 4, MaxPending: 32})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		return c, done
	}
	a, aDone := start("a")
	require.Eventually(t, func() bool { return count() >= n/4 }, 30*time.Second, 5*time.Millisecond)
	b, bDone := start("b")
	require.Eventually(t, func() bool { return count() >= n }, 45*time.Second, 5*time.Millisecond)
	for _, c := range []*consume.Consumer{a, b} {
		require.NoError(t, c.Close(ctx))
	}
	require.NoError(t, <-aDone)
	require.NoError(t, <-bDone)

	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, overlaps, "a key ran on both consumers at once")
	total := 0
	for _, c := range handled {
		total += c
	}
	t.Logf("%d messages, %d handler calls, first handled by consumer: %v", len(handled), total, by)
	assert.Positive(t, by["b"], "the partitions moved to b")
	for k := range keys {
		var want []string
		for i := k; i < n; i += keys {
			want = append(want, fmt.Sprintf("m%d", i))
		}
		assert.Equal(t, want, firsts[fmt.Sprintf("k%d", k)], "key k%d", k)
	}
	s := e.source(t, kafkaconsume.Config{})
	nothingMore(t, s, time.Second)
}
