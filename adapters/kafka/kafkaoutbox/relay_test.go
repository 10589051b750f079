package kafkaoutbox_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaoutbox"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// enqueueKeys enqueues perKey messages for each of keys keys, the keys'
// messages interleaved at random (seeded), and returns them in enqueue
// order. The payload of a key's i-th message is "<key>/<i>".
func enqueueKeys(t *testing.T, store *outbox.MemoryStore, topic string, keys, perKey int, seed uint64) []outbox.Message {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	next := make([]int, keys)
	var msgs []outbox.Message
	for left := keys * perKey; left > 0; left-- {
		k := rng.IntN(keys)
		for next[k] == perKey {
			k = (k + 1) % keys
		}
		key := fmt.Sprintf("key-%03d", k)
		msgs = append(msgs, outbox.NewMessage(topic, key, fmt.Appendf(nil, "%s/%d", key, next[k])))
		next[k]++
	}
	require.NoError(t, store.Enqueue(context.Background(), msgs...))
	return msgs
}

// checkKeyOrder checks that got holds every message of want, each key's in
// want's order, after dropping repeats of an ID (which may only come
// after its first copy), and that each key's records share a partition.
// It returns the number of repeats.
func checkKeyOrder(t *testing.T, want []outbox.Message, got []*kgo.Record) int {
	t.Helper()
	wantByKey := map[string][]uuid.UUID{}
	for _, m := range want {
		wantByKey[m.Key] = append(wantByKey[m.Key], m.ID)
	}
	seen := map[uuid.UUID]bool{}
	gotByKey := map[string][]uuid.UUID{}
	partition := map[string]int32{}
	repeats := 0
	for _, rec := range got {
		m, err := kafkaoutbox.Decode(rec)
		require.NoError(t, err)
		if p, ok := partition[m.Key]; ok && p != rec.Partition {
			t.Errorf("key %s is on partitions %d and %d", m.Key, p, rec.Partition)
		}
		partition[m.Key] = rec.Partition
		if seen[m.ID] {
			repeats++
			continue
		}
		seen[m.ID] = true
		gotByKey[m.Key] = append(gotByKey[m.Key], m.ID)
	}
	assert.Equal(t, wantByKey, gotByKey, "each key's messages, once each, in enqueue order")
	parts := map[int32]bool{}
	for _, p := range partition {
		parts[p] = true
	}
	t.Logf("%d records: %d messages of %d keys on %d partitions, %d repeats", len(got), len(seen), len(partition), len(parts), repeats)
	return repeats
}

func newRelay(t *testing.T, store outbox.Store, pub outbox.Publisher, cfg outbox.Config) *outbox.Relay {
	t.Helper()
	relay, err := outbox.NewRelay(store, pub, cfg)
	require.NoError(t, err)
	return relay
}

// runRelay runs relay until the test ends.
func runRelay(t *testing.T, relay *outbox.Relay) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- relay.Run(context.Background()) }()
	t.Cleanup(func() {
		require.NoError(t, relay.Close(context.Background()))
		require.NoError(t, <-done)
	})
}

// TestRelayKeepsKeyOrderAcrossPartitions: a relay publishing many keys at
// once from a MemoryStore to a topic of several partitions on three
// brokers; the consumer sees every message once, each key's in order and
// on one partition. The keys' interleaving is seeded.
func TestRelayKeepsKeyOrderAcrossPartitions(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 8)
	pub, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{})
	require.NoError(t, err)
	store := outbox.NewMemoryStore()
	want := enqueueKeys(t, store, topic, 40, 25, seed)
	cfg := outbox.DefaultConfig()
	cfg.Concurrency = 16
	runRelay(t, newRelay(t, store, pub, cfg))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := kafkatest.NewReader(t, c, topic).Read(ctx, len(want))
	require.NoError(t, err, "seed %d", seed)
	assert.Zero(t, checkKeyOrder(t, want, got), "seed %d: no crash, no repeats", seed)
	more, err := kafkatest.NewReader(t, c, topic).Read(shortly(t), len(want)+1)
	assert.Error(t, err, "nothing more arrives: %d records", len(more))
}

func shortly(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

// TestRelayRetriesWhileTheBrokerRefuses: while the broker refuses produce
// requests, each Publish fails (at once for a refusal the client does not
// retry; at the publish timeout for one it retries itself), the relay
// keeps retrying, and once the broker accepts again every message arrives
// in key order.
func TestRelayRetriesWhileTheBrokerRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *kerr.Error
	}{
		{"PolicyViolation", kerr.PolicyViolation},     // the client gives up at once
		{"NotEnoughReplicas", kerr.NotEnoughReplicas}, // the client retries until ctx ends
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.Cluster(t)
			topic := kafkatest.Topic(t, c, 4)
			pub, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{})
			require.NoError(t, err)
			fault := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: tc.err, Count: -1})
			store := outbox.NewMemoryStore()
			want := enqueueKeys(t, store, topic, 8, 3, 1)

			var mu sync.Mutex
			var retryErrs []error
			retried := make(chan struct{}, 100)
			cfg := outbox.Config{
				MaxAttempts:    outbox.Unlimited,
				PollInterval:   50 * time.Millisecond,
				PublishTimeout: 300 * time.Millisecond,
				Backoff:        retry.Exponential{Initial: 20 * time.Millisecond},
				MaxDelay:       50 * time.Millisecond,
				Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
					f, ok := e.(outbox.PublishFailed)
					if !ok {
						return
					}
					mu.Lock()
					retryErrs = append(retryErrs, f.Err)
					mu.Unlock()
					select {
					case retried <- struct{}{}:
					default:
					}
				}),
			}
			runRelay(t, newRelay(t, store, pub, cfg))
			for range 8 {
				select {
				case <-retried:
				case <-time.After(20 * time.Second):
					t.Fatal("the relay stopped retrying")
				}
			}
			st, err := store.Stats(context.Background())
			require.NoError(t, err)
			assert.Equal(t, len(want), st.Pending, "nothing was published while refused")
			fault.Remove()

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			got, err := kafkatest.NewReader(t, c, topic).Read(ctx, len(want))
			require.NoError(t, err)
			more, _ := kafkatest.NewReader(t, c, topic).Read(shortly(t), 2*len(want))
			checkKeyOrder(t, want, append(got, more[len(got):]...))

			mu.Lock()
			defer mu.Unlock()
			for _, err := range retryErrs {
				if tc.err == kerr.PolicyViolation {
					assert.ErrorIs(t, err, kerr.PolicyViolation)
				} else {
					assert.ErrorIs(t, err, context.DeadlineExceeded)
				}
			}
			t.Logf("%d failed publishes retried, fault hit %d times", len(retryErrs), fault.Hits())
		})
	}
}

// crashingStore is a MemoryStore whose batches cannot record their
// outcome: the relay publishes and then "dies" before the store learns it
// did, leaving its claim to run out.
type crashingStore struct{ *outbox.MemoryStore }

var errCrash = errors.New("the relay process died")

func (s crashingStore) Claim(ctx context.Context, req outbox.ClaimRequest) (outbox.Batch, error) {
	b, err := s.MemoryStore.Claim(ctx, req)
	return crashingBatch{b}, err
}

type crashingBatch struct{ outbox.Batch }

func (crashingBatch) Finish(context.Context, outbox.Outcome) error { return errCrash }

// TestRepublishedMessagesReachAnInboxOnce proves the package's duplicate
// story: a relay publishes, dies before recording it, and a new relay (a
// new producer session) publishes the same messages again. Kafka stores
// both copies; a consumer deduplicating by the message ID with an
// idempotency.Inbox handles each message once, each key's in order.
func TestRepublishedMessagesReachAnInboxOnce(t *testing.T) {
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, 4)
	store := outbox.NewMemoryStore()
	want := enqueueKeys(t, store, topic, 10, 5, 7)
	cfg := outbox.DefaultConfig()

	// The first relay publishes everything, then its process dies.
	first, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	pub, err := kafkaoutbox.New(first, kafkaoutbox.Config{})
	require.NoError(t, err)
	res, err := newRelay(t, crashingStore{store}, pub, cfg).ProcessBatch(context.Background())
	require.ErrorIs(t, err, errCrash)
	assert.Equal(t, len(want), res.Claimed)
	first.Close()

	// After the dead relay's lease, a new one publishes them all again.
	clk := clocktest.New(time.Now().Add(2 * cfg.Lease))
	cfg.Clock = clk
	pub2, err := kafkaoutbox.New(kafkatest.Client(t, c), kafkaoutbox.Config{})
	require.NoError(t, err)
	res, err = newRelay(t, store, pub2, cfg).ProcessBatch(context.Background())
	require.NoError(t, err)
	assert.Equal(t, len(want), res.Published)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := kafkatest.NewReader(t, c, topic).Read(ctx, 2*len(want))
	require.NoError(t, err, "the topic holds both copies of every message")
	assert.Equal(t, len(want), checkKeyOrder(t, want, recs))

	keeper, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	require.NoError(t, err)
	var dups atomic.Int64
	inbox, err := idempotency.NewInbox(keeper, idempotency.InboxConfig{
		Consumer: "test",
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(idempotency.Duplicate); ok {
				dups.Add(1)
			}
		}),
	})
	require.NoError(t, err)
	handled := map[uuid.UUID]int{}
	byKey := map[string][]uuid.UUID{}
	for _, rec := range recs {
		m, err := kafkaoutbox.Decode(rec)
		require.NoError(t, err)
		_, err = inbox.Process(ctx, m.ID.String(), func(context.Context) error {
			handled[m.ID]++
			byKey[m.Key] = append(byKey[m.Key], m.ID)
			return nil
		})
		require.NoError(t, err)
	}
	wantByKey := map[string][]uuid.UUID{}
	for _, m := range want {
		assert.Equal(t, 1, handled[m.ID], "message %s handled once", m.ID)
		wantByKey[m.Key] = append(wantByKey[m.Key], m.ID)
	}
	assert.Equal(t, wantByKey, byKey, "handled in key order")
	assert.EqualValues(t, len(want), dups.Load())
	t.Logf("%d records on the topic, %d handled, %d dropped by the inbox", len(recs), len(handled), dups.Load())
}
