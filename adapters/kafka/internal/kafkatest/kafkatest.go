// Package kafkatest starts in-process kfake clusters for the Kafka
// adapters' tests, with clients, fresh topics and a reader, all cleaned up
// (and checked for leaked goroutines) when the test ends.
package kafkatest

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

// Cluster starts a kfake cluster of three brokers (plus opts) that closes
// when the test ends; after that, the test fails if a goroutine started
// during it is still running. Tests that use it must not run in parallel.
func Cluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // runs last
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Client returns a client of c with opts, closed when the test ends.
func Client(t testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, opts...)...)
	if err != nil {
		t.Fatalf("kafkatest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Topic creates a topic with a random name and the given number of
// partitions on c, and returns its name.
func Topic(t testing.TB, c *kfake.Cluster, partitions int32) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = crand.Read(b)
	name := "bulwark-" + hex.EncodeToString(b)
	if err := c.CreateTopic(name, partitions, nil); err != nil {
		t.Fatalf("kafkatest: creating topic %s: %v", name, err)
	}
	return name
}

// Reader reads topics from their first offset and keeps every record it
// has read, in the order it read them (which is each partition's order).
type Reader struct {
	cl  *kgo.Client
	mu  sync.Mutex
	got []*kgo.Record
}

// NewReader returns a Reader of topics on c, closed when the test ends.
func NewReader(t testing.TB, c *kfake.Cluster, topics ...string) *Reader {
	t.Helper()
	return &Reader{cl: Client(t, c, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))}
}

// Read returns the first n records read, polling for more until there are
// n or ctx is done (then it returns ctx.Err() and what it has).
func (r *Reader) Read(ctx context.Context, n int) ([]*kgo.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.got) < n {
		fs := r.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return r.got, err
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return r.got, ferr
		}
		r.got = append(r.got, fs.Records()...)
	}
	return r.got[:n], nil
}
