// Package outboxtest holds the conformance suites of the outbox package:
// Run for Store drivers and RunPublisher for Publishers. Every driver in
// bulwark runs them, so a behaviour is specified once and holds everywhere;
// a driver written elsewhere runs them the same way, from its own tests.
//
// Both suites take a function that makes a fresh Harness for each subtest:
//
//	func TestConformance(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
//			s := newStore(t) // empty, removed when t ends
//			return outboxtest.Harness{Store: s, Enqueue: s.Enqueue}
//		})
//	}
//
// Run checks claims, key order, retries, dead letters, replay, cleanup and
// concurrency, and that every byte of a message (payload, key, header
// values, including NUL bytes and invalid UTF-8) comes back as enqueued.
// RunPublisher checks that what a publisher sends reaches a consumer byte
// for byte and in key order, and that a message its broker cannot carry
// (Limits) fails alone with outbox.ErrInvalidMessage while concurrent good
// messages are all delivered.
package outboxtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Harness is what a store driver gives the suite for one test: a fresh,
// empty store and a way to enqueue messages into it (each call in a
// transaction of its own, committed before it returns, or rolled back when
// it fails).
type Harness struct {
	Store   outbox.Store
	Enqueue func(ctx context.Context, msgs ...outbox.Message) error
}

// Run runs the store conformance suite. newHarness is called once per
// subtest and must return an empty store.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"BytesRoundTrip", testBytesRoundTrip},
		{"EnqueuePreparesMessages", testEnqueuePrepares},
		{"EnqueueRefusesInvalidText", testEnqueueRefusesInvalidText},
		{"FinishCancelled", testFinishCancelled},
		{"ClaimOrderAndLimit", testClaimOrderAndLimit},
		{"ClaimsNeverShareAKey", testClaimsNeverShareAKey},
		{"ReleaseMakesClaimable", testRelease},
		{"RetryWaitsAndBlocksItsKey", testRetryWaits},
		{"DeadLetterBlocksItsKey", testDeadLetterBlocks},
		{"DeadLetterSkipped", testDeadLetterSkipped},
		{"DeadLettersListAndPage", testDeadLettersList},
		{"ReplayRestoresOrder", testReplay},
		{"DiscardUnblocks", testDiscard},
		{"ReplayWhileKeyHeld", testReplayWhileKeyHeld},
		{"KeepAndCleanup", testKeepAndCleanup},
		{"Stats", testStats},
		{"CancelledContext", testCancelled},
		{"FinishAndClaim", testFinishAndClaim},
		{"RandomInterleavingKeepsKeyOrder", testRandomInterleaving},
		{"ConcurrentClaimers", testConcurrentClaimers},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newHarness(t)) })
	}
}

// base is the suite's "now": truncated to microseconds, the precision
// every driver keeps.
var base = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

func req(limit int, now time.Time) outbox.ClaimRequest {
	return outbox.ClaimRequest{Limit: limit, Now: now, Lease: time.Minute}
}

func msg(key string, n int) outbox.Message {
	return outbox.Message{
		ID:        uuid.Must(uuid.NewV7()),
		Topic:     "orders",
		Key:       key,
		Payload:   fmt.Appendf(nil, "%s-%d", key, n),
		CreatedAt: base.Add(time.Duration(n) * time.Millisecond),
	}
}

func enqueue(t *testing.T, h Harness, msgs ...outbox.Message) []outbox.Message {
	t.Helper()
	require.NoError(t, h.Enqueue(context.Background(), msgs...))
	return msgs
}

func claim(t *testing.T, h Harness, r outbox.ClaimRequest) outbox.Batch {
	t.Helper()
	b, err := h.Store.Claim(context.Background(), r)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Release(context.Background()) })
	return b
}

func payloads(b outbox.Batch) []string {
	var out []string
	for _, m := range b.Messages() {
		out = append(out, string(m.Payload))
	}
	return out
}

func all(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func publishAll(t *testing.T, b outbox.Batch, now time.Time) {
	t.Helper()
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{Now: now, Published: all(len(b.Messages()))}))
}

func testRoundTrip(t *testing.T, h Harness) {
	full := msg("k", 1)
	full.Headers = map[string]string{"trace-id": "abc", "content-type": "application/json", "empty": ""}
	full.Payload = []byte{0, 1, 2, 0xff, '"', '\\'}
	bare := outbox.Message{ID: uuid.Must(uuid.NewV7()), Topic: "t.2", Key: "k2", CreatedAt: base}
	enqueue(t, h, full, bare)

	b := claim(t, h, req(10, base))
	got := b.Messages()
	require.Len(t, got, 2)
	for i, want := range []outbox.Message{full, bare} {
		assert.Equal(t, want.ID, got[i].ID)
		assert.Equal(t, want.Topic, got[i].Topic)
		assert.Equal(t, want.Key, got[i].Key)
		assert.Equal(t, len(want.Payload), len(got[i].Payload))
		if len(want.Payload) > 0 {
			assert.Equal(t, want.Payload, got[i].Payload)
		}
		assert.Equal(t, len(want.Headers), len(got[i].Headers))
		if len(want.Headers) > 0 {
			assert.Equal(t, want.Headers, got[i].Headers)
		}
		assert.True(t, want.CreatedAt.Equal(got[i].CreatedAt), "CreatedAt %s, want %s", got[i].CreatedAt, want.CreatedAt)
		assert.Zero(t, got[i].Attempts)
	}
	assert.False(t, b.Contended())
}

func testEnqueuePrepares(t *testing.T, h Harness) {
	before := time.Now().Add(-time.Second)
	msgs := []outbox.Message{{Topic: "t", Payload: []byte("x")}}
	enqueue(t, h, msgs...)
	assert.NotEqual(t, uuid.Nil, msgs[0].ID, "Enqueue fills a zero ID in place")
	b := claim(t, h, req(10, time.Now()))
	require.Len(t, b.Messages(), 1)
	got := b.Messages()[0]
	assert.Equal(t, msgs[0].ID, got.ID)
	assert.Equal(t, got.ID.String(), got.Key, "an empty key becomes the ID")
	assert.True(t, got.CreatedAt.After(before), "a zero CreatedAt becomes now, got %s", got.CreatedAt)

	err := h.Enqueue(context.Background(), outbox.Message{Key: "k", Payload: []byte("no topic")})
	assert.ErrorIs(t, err, outbox.ErrInvalidMessage)
}

func testClaimOrderAndLimit(t *testing.T, h Harness) {
	var msgs []outbox.Message
	for i := range 10 {
		msgs = append(msgs, msg(fmt.Sprintf("k%d", i%3), i))
	}
	enqueue(t, h, msgs[:5]...)
	enqueue(t, h, msgs[5:]...)

	b := claim(t, h, req(4, base))
	assert.Equal(t, []string{"k0-0", "k1-1", "k2-2", "k0-3"}, payloads(b))
	publishAll(t, b, base)
	b = claim(t, h, req(100, base))
	assert.Equal(t, []string{"k1-4", "k2-5", "k0-6", "k1-7", "k2-8", "k0-9"}, payloads(b))
	publishAll(t, b, base)
	b = claim(t, h, req(100, base))
	assert.Empty(t, b.Messages())
}

func testClaimsNeverShareAKey(t *testing.T, h Harness) {
	enqueue(t, h, msg("a", 1), msg("b", 2), msg("a", 3), msg("b", 4), msg("c", 5))
	first := claim(t, h, req(1, base))
	assert.Equal(t, []string{"a-1"}, payloads(first))
	second := claim(t, h, req(10, base))
	assert.Equal(t, []string{"b-2", "b-4", "c-5"}, payloads(second), "a-3 waits for a-1, held by the first claim")
	assert.True(t, second.Contended(), "a-3 was ready but its key was held")
	third := claim(t, h, req(10, base))
	assert.Empty(t, third.Messages(), "every key is held")
	require.NoError(t, third.Release(context.Background()))

	publishAll(t, first, base)
	fourth := claim(t, h, req(10, base))
	assert.Equal(t, []string{"a-3"}, payloads(fourth))
}

func testRelease(t *testing.T, h Harness) {
	enqueue(t, h, msg("a", 1), msg("a", 2))
	b := claim(t, h, req(10, base))
	require.Len(t, b.Messages(), 2)
	require.NoError(t, b.Release(context.Background()))
	require.NoError(t, b.Release(context.Background()), "a second Release does nothing")
	b = claim(t, h, req(10, base))
	assert.Equal(t, []string{"a-1", "a-2"}, payloads(b))
	// An outcome that mentions some messages releases the others unchanged.
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{Now: base, Published: []int{0}}))
	b = claim(t, h, req(10, base))
	assert.Equal(t, []string{"a-2"}, payloads(b))
	assert.Zero(t, b.Messages()[0].Attempts)
}

func testRetryWaits(t *testing.T, h Harness) {
	enqueue(t, h, msg("a", 1), msg("a", 2), msg("b", 3))
	b := claim(t, h, req(10, base))
	require.Equal(t, []string{"a-1", "a-2", "b-3"}, payloads(b))
	retryAt := base.Add(time.Minute)
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{
		Now: base, Published: []int{2}, Failed: []outbox.Failure{{Index: 0, Error: "broker down", RetryAt: retryAt}},
	}))
	enqueue(t, h, msg("b", 4))

	b = claim(t, h, req(10, retryAt.Add(-time.Millisecond)))
	assert.Equal(t, []string{"b-4"}, payloads(b), "a-1 waits for its retry time and a-2 waits for a-1")
	assert.False(t, b.Contended(), "a key waiting for a retry is not contention")
	publishAll(t, b, base)

	b = claim(t, h, req(10, retryAt))
	require.Equal(t, []string{"a-1", "a-2"}, payloads(b))
	assert.Equal(t, 1, b.Messages()[0].Attempts)
	assert.Equal(t, 0, b.Messages()[1].Attempts)
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{
		Now: retryAt, Failed: []outbox.Failure{{Index: 0, Error: "again", RetryAt: retryAt}},
	}))
	b = claim(t, h, req(10, retryAt))
	require.Equal(t, []string{"a-1", "a-2"}, payloads(b))
	assert.Equal(t, 2, b.Messages()[0].Attempts, "attempts add up")
}

// deadLetterFirst enqueues a-1, a-2, b-3 and dead-letters a-1.
func deadLetterFirst(t *testing.T, h Harness) outbox.Message {
	t.Helper()
	msgs := enqueue(t, h, msg("a", 1), msg("a", 2), msg("b", 3))
	b := claim(t, h, req(1, base))
	require.Equal(t, []string{"a-1"}, payloads(b))
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{
		Now: base, Failed: []outbox.Failure{{Index: 0, Error: "rejected: too large", Dead: true}},
	}))
	return msgs[0]
}

func testDeadLetterBlocks(t *testing.T, h Harness) {
	dead := deadLetterFirst(t, h)
	b := claim(t, h, req(10, base))
	assert.Equal(t, []string{"b-3"}, payloads(b), "a-2 waits behind the dead letter a-1")
	assert.False(t, b.Contended())

	dls, err := h.Store.DeadLetters(context.Background(), outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	require.Len(t, dls, 1)
	assert.Equal(t, dead.ID, dls[0].ID)
	assert.Equal(t, dead.Payload, dls[0].Payload)
	assert.Equal(t, "a", dls[0].Key)
	assert.Equal(t, 1, dls[0].Attempts)
	assert.Equal(t, "rejected: too large", dls[0].LastError)
	assert.True(t, dls[0].DeadAt.Equal(base), "DeadAt %s", dls[0].DeadAt)
}

func testDeadLetterSkipped(t *testing.T, h Harness) {
	deadLetterFirst(t, h)
	r := req(10, base)
	r.SkipDeadLetters = true
	b := claim(t, h, r)
	assert.Equal(t, []string{"a-2", "b-3"}, payloads(b))
}

func testDeadLettersList(t *testing.T, h Harness) {
	var msgs []outbox.Message
	for i := range 5 {
		msgs = append(msgs, msg(fmt.Sprintf("k%d", i%2), i))
	}
	enqueue(t, h, msgs...)
	b := claim(t, h, req(10, base))
	require.Len(t, b.Messages(), 5)
	o := outbox.Outcome{Now: base}
	for i := range 5 {
		o.Failed = append(o.Failed, outbox.Failure{Index: i, Error: fmt.Sprint("e", i), Dead: true})
	}
	require.NoError(t, b.Finish(context.Background(), o))

	var seen []string
	var after int64
	for {
		page, err := h.Store.DeadLetters(context.Background(), outbox.DeadLetterQuery{After: after, Limit: 2})
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		assert.LessOrEqual(t, len(page), 2)
		for _, d := range page {
			assert.Greater(t, d.Position, after)
			after = d.Position
			seen = append(seen, string(d.Payload))
		}
	}
	assert.Equal(t, []string{"k0-0", "k1-1", "k0-2", "k1-3", "k0-4"}, seen)

	only, err := h.Store.DeadLetters(context.Background(), outbox.DeadLetterQuery{Key: "k1", Limit: 10})
	require.NoError(t, err)
	require.Len(t, only, 2)
	assert.Equal(t, "k1-1", string(only[0].Payload))
	assert.Equal(t, "e1", only[0].LastError)
	assert.Equal(t, "k1-3", string(only[1].Payload))

	_, err = h.Store.DeadLetters(context.Background(), outbox.DeadLetterQuery{})
	assert.Error(t, err, "a zero Limit is rejected")
}

func testReplay(t *testing.T, h Harness) {
	dead := deadLetterFirst(t, h)
	n, err := h.Store.Replay(context.Background(), dead.ID, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "unknown IDs are ignored")
	b := claim(t, h, req(10, base))
	assert.Equal(t, []string{"a-1", "a-2", "b-3"}, payloads(b), "the replayed message is first of its key again")
	assert.Zero(t, b.Messages()[0].Attempts, "replay resets attempts")
	publishAll(t, b, base)
	st, err := h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, outbox.Stats{}, st)
}

// testReplayWhileKeyHeld: with dead letters skipped, a key's later messages
// may be claimed when its dead letter is replayed. The replayed message
// then sorts first in its key, but must not be claimed (nor the held ones
// again) until the claim holding the key ends, whatever the claim's limit:
// a claim of one message reads only the replayed one, not the held one.
func testReplayWhileKeyHeld(t *testing.T, h Harness) {
	dead := deadLetterFirst(t, h)
	r := req(1, base)
	r.SkipDeadLetters = true
	held := claim(t, h, r)
	require.Equal(t, []string{"a-2"}, payloads(held))

	replayed := make(chan error, 1)
	go func() {
		_, err := h.Store.Replay(context.Background(), dead.ID) // may wait for the claim on key a
		replayed <- err
	}()
	for _, limit := range []int{1, 10, 1, 10} {
		r.Limit = limit
		b := claim(t, h, r)
		for _, m := range b.Messages() {
			assert.NotEqual(t, "a", m.Key, "key a is held, yet %s was claimed", m.Payload)
		}
		require.NoError(t, b.Release(context.Background()))
		time.Sleep(10 * time.Millisecond)
	}
	publishAll(t, held, base)
	r.Limit = 10
	select {
	case err := <-replayed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Replay did not finish after the claim on its key ended")
	}
	b := claim(t, h, r)
	assert.Equal(t, []string{"a-1", "b-3"}, payloads(b))
}

func testDiscard(t *testing.T, h Harness) {
	dead := deadLetterFirst(t, h)
	n, err := h.Store.Discard(context.Background(), dead.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	n, err = h.Store.Discard(context.Background(), dead.ID)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	b := claim(t, h, req(10, base))
	assert.Equal(t, []string{"a-2", "b-3"}, payloads(b))
	dls, err := h.Store.DeadLetters(context.Background(), outbox.DeadLetterQuery{Limit: 10})
	require.NoError(t, err)
	assert.Empty(t, dls)
}

func testKeepAndCleanup(t *testing.T, h Harness) {
	enqueue(t, h, msg("a", 1), msg("b", 2), msg("c", 3))
	b := claim(t, h, req(10, base))
	require.Len(t, b.Messages(), 3)
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{Now: base, Keep: true, Published: []int{0, 1}}))
	b = claim(t, h, req(10, base.Add(time.Minute)))
	assert.Equal(t, []string{"c-3"}, payloads(b), "kept messages are not claimed again")
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{Now: base.Add(time.Minute), Keep: true, Published: []int{0}}))

	n, err := h.Store.Cleanup(context.Background(), base)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "nothing was published before base")
	n, err = h.Store.Cleanup(context.Background(), base.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = h.Store.Cleanup(context.Background(), base.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	st, err := h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, outbox.Stats{}, st)
}

func testStats(t *testing.T, h Harness) {
	st, err := h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, outbox.Stats{}, st)

	enqueue(t, h, msg("a", 5), msg("b", 2), msg("c", 9))
	st, err = h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3, st.Pending)
	assert.True(t, st.Oldest.Equal(base.Add(2*time.Millisecond)), "Oldest %s", st.Oldest)

	b := claim(t, h, req(10, base))
	require.NoError(t, b.Finish(context.Background(), outbox.Outcome{
		Now: base, Published: []int{1}, Failed: []outbox.Failure{{Index: 0, Error: "x", Dead: true}},
	}))
	st, err = h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending)
	assert.Equal(t, 1, st.DeadLetters)
	assert.True(t, st.Oldest.Equal(base.Add(9*time.Millisecond)), "Oldest %s", st.Oldest)
}

func testCancelled(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Store.Claim(ctx, req(10, base))
	assert.ErrorIs(t, err, context.Canceled)
	_, err = h.Store.Stats(ctx)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Error(t, h.Enqueue(ctx, msg("a", 1)))
}

// testFinishAndClaim checks outbox.Chainer, for batches that have it: the
// outcome is recorded and the next claim sees it.
func testFinishAndClaim(t *testing.T, h Harness) {
	enqueue(t, h, msg("a", 1), msg("a", 2), msg("b", 3), msg("a", 4))
	b := claim(t, h, req(2, base))
	chainer, ok := b.(outbox.Chainer)
	if !ok {
		t.Skip("the store's batches do not implement outbox.Chainer")
	}
	require.Equal(t, []string{"a-1", "a-2"}, payloads(b))
	next, err := chainer.FinishAndClaim(context.Background(), outbox.Outcome{
		Now: base, Published: []int{0}, Failed: []outbox.Failure{{Index: 1, Error: "x", RetryAt: base.Add(time.Hour)}},
	}, req(10, base))
	require.NoError(t, err)
	require.NotNil(t, next)
	t.Cleanup(func() { _ = next.Release(context.Background()) })
	assert.Equal(t, []string{"b-3"}, payloads(next), "a-1 was published, a-2 waits for its retry and a-4 behind it")
	assert.Error(t, b.Finish(context.Background(), outbox.Outcome{Now: base}), "the first batch is finished")
	publishAll(t, next, base)
	st, err := h.Store.Stats(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 2, st.Pending)
}

// testRandomInterleaving drives several claims at once through a seeded
// random sequence of enqueues, claims, publishes, failures and releases, and
// checks after every step that no two open claims share a key, that each
// claim holds its keys' oldest pending messages in order, and at the end
// that every key was published exactly in enqueue order.
func testRandomInterleaving(t *testing.T, h Harness) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx := context.Background()
	keys := []string{"a", "b", "c", "d", "e"}
	enqueued := map[string][]string{}  // key -> payloads in enqueue order
	published := map[string][]string{} // key -> payloads in publish order
	type open struct{ b outbox.Batch }
	var claims []open
	held := map[string]bool{}
	n := 0
	now := base
	check := func(b outbox.Batch) {
		byKey := map[string][]string{}
		for _, m := range b.Messages() {
			byKey[m.Key] = append(byKey[m.Key], string(m.Payload))
		}
		for k, ps := range byKey {
			require.False(t, held[k], "seed %d: key %s claimed twice", seed, k)
			held[k] = true
			pending := enqueued[k][len(published[k]):]
			require.Equal(t, pending[:len(ps)], ps, "seed %d: claim of key %s is not its oldest pending messages in order", seed, k)
		}
	}
	finish := func(i int) {
		b := claims[i].b
		claims = append(claims[:i], claims[i+1:]...)
		msgs := b.Messages()
		for _, m := range msgs {
			held[m.Key] = false
		}
		if rng.IntN(4) == 0 {
			require.NoError(t, b.Release(ctx))
			return
		}
		// Publish a random prefix of each key; maybe fail the next one.
		o := outbox.Outcome{Now: now}
		stopped := map[string]bool{}
		for j, m := range msgs {
			if stopped[m.Key] {
				continue
			}
			switch rng.IntN(6) {
			case 0:
				stopped[m.Key] = true
			case 1:
				stopped[m.Key] = true
				o.Failed = append(o.Failed, outbox.Failure{Index: j, Error: "boom", RetryAt: now.Add(time.Duration(rng.IntN(3)) * time.Second)})
			default:
				o.Published = append(o.Published, j)
				published[m.Key] = append(published[m.Key], string(m.Payload))
			}
		}
		require.NoError(t, b.Finish(ctx, o))
	}
	for range 150 {
		switch op := rng.IntN(10); {
		case op < 3:
			var batch []outbox.Message
			for range 1 + rng.IntN(4) {
				k := keys[rng.IntN(len(keys))]
				n++
				m := msg(k, n)
				batch = append(batch, m)
				enqueued[k] = append(enqueued[k], string(m.Payload))
			}
			require.NoError(t, h.Enqueue(ctx, batch...))
		case op < 6 && len(claims) < 3:
			b, err := h.Store.Claim(ctx, req(1+rng.IntN(6), now))
			require.NoError(t, err)
			check(b)
			claims = append(claims, open{b})
		case op < 9 && len(claims) > 0:
			finish(rng.IntN(len(claims)))
		default:
			now = now.Add(time.Second)
		}
	}
	for len(claims) > 0 {
		finish(0)
	}
	// Drain: publish everything that is left.
	now = now.Add(time.Hour)
	for {
		b, err := h.Store.Claim(ctx, req(100, now))
		require.NoError(t, err)
		check(b)
		if len(b.Messages()) == 0 {
			require.NoError(t, b.Release(ctx))
			break
		}
		for _, m := range b.Messages() {
			held[m.Key] = false
			published[m.Key] = append(published[m.Key], string(m.Payload))
		}
		publishAll(t, b, now)
	}
	assert.Equal(t, enqueued, published, "seed %d", seed)
}

// testConcurrentClaimers runs claimers in parallel goroutines until every
// message is published, and checks no key was ever held twice and each
// key's messages were published once, in order.
func testConcurrentClaimers(t *testing.T, h Harness) {
	const keys, perKey, claimers = 20, 15, 4
	ctx := context.Background()
	want := map[string][]string{}
	var msgs []outbox.Message
	for i := range keys * perKey {
		k := fmt.Sprint("k", i%keys)
		m := msg(k, i)
		msgs = append(msgs, m)
		want[k] = append(want[k], string(m.Payload))
	}
	for i := 0; i < len(msgs); i += 50 {
		enqueue(t, h, msgs[i:i+50]...)
	}
	var (
		mu        sync.Mutex
		held      = map[string]bool{}
		published = map[string][]string{}
		total     int
		errs      = make(chan error, claimers)
	)
	var wg sync.WaitGroup
	for c := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(time.Minute)
			for time.Now().Before(deadline) {
				b, err := h.Store.Claim(ctx, req(3+c*7, time.Now()))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				done := total == len(msgs)
				for _, m := range b.Messages() {
					if held[m.Key] {
						mu.Unlock()
						_ = b.Release(ctx)
						errs <- fmt.Errorf("key %s claimed while another claim held it", m.Key)
						return
					}
				}
				for _, m := range b.Messages() {
					held[m.Key] = true
					published[m.Key] = append(published[m.Key], string(m.Payload))
					total++
				}
				mu.Unlock()
				if done {
					_ = b.Release(ctx)
					return
				}
				mu.Lock()
				for _, m := range b.Messages() {
					held[m.Key] = false
				}
				mu.Unlock()
				if err := b.Finish(ctx, outbox.Outcome{Now: time.Now(), Published: all(len(b.Messages()))}); err != nil {
					errs <- err
					return
				}
			}
			errs <- fmt.Errorf("claimer %d: not done within a minute", c)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, want, published)
}
