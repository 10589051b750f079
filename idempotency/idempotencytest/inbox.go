package idempotencytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TxInbox is a transactional inbox of a SQL adapter (pgidempotency.Inbox,
// sqliteidempotency.Inbox): it runs a message's handler in a transaction of
// type Tx that also records the message ID as processed.
type TxInbox[Tx any] interface {
	// Process runs handle for the message unless it was processed, and
	// reports whether handle ran.
	Process(ctx context.Context, messageID string, handle func(ctx context.Context, tx Tx) error) (ran bool, err error)
	// Cleanup deletes the IDs whose retention ended, and returns how many.
	Cleanup(ctx context.Context) (int, error)
}

// InboxSettings are the settings the suite asks a harness to build an
// inbox with; they map one to one onto the adapters' InboxConfig.
type InboxSettings struct {
	Consumer  string
	Retention time.Duration
	Clock     clock.Clock      // nil means the system clock
	Observer  bulwark.Observer // receives idempotency.Duplicate events; may be nil
}

// InboxHarness is one empty store under test (its table migrated) and an
// effects table in the same database, where handlers write one row per
// message they handle.
type InboxHarness[Tx any] struct {
	// NewInbox returns an inbox over the store with the settings s.
	NewInbox func(s InboxSettings) (TxInbox[Tx], error)
	// Effect writes the handler's own row for messageID through tx.
	Effect func(ctx context.Context, tx Tx, messageID string) error
	// Effects counts the committed rows written for messageID.
	Effects func(t *testing.T, messageID string) int
}

// RunInbox runs the conformance suite of transactional inboxes: the
// handler's writes and the processed record commit together or not at
// all. newHarness is called once per subtest and must return an empty
// store and effects table of their own.
//
//	func TestInbox(t *testing.T) {
//		idempotencytest.RunInbox(t, func(t *testing.T) idempotencytest.InboxHarness[pgx.Tx] { return setUpInbox(t, pgtest.Pool(t)) })
//	}
func RunInbox[Tx any](t *testing.T, newHarness func(t *testing.T) InboxHarness[Tx]) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, h InboxHarness[Tx])
	}{
		{"ProcessesEachMessageOnce", testInboxOnce[Tx]},
		{"ConsumersAreSeparate", testInboxConsumers[Tx]},
		{"FailureRollsBackTheRecordWithTheWrites", testInboxFailure[Tx]},
		{"ConcurrentDeliveries", testInboxConcurrent[Tx]},
		{"RetentionAndCleanup", testInboxRetention[Tx]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			require.NotNil(t, h.NewInbox, "InboxHarness.NewInbox")
			require.NotNil(t, h.Effect, "InboxHarness.Effect")
			require.NotNil(t, h.Effects, "InboxHarness.Effects")
			tc.test(t, h)
		})
	}
}

// inboxStart is the suite's "now", a whole millisecond as inboxes keep.
var inboxStart = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// newTxInbox returns the consumer's inbox with a retention of an hour on
// fake.
func newTxInbox[Tx any](t *testing.T, h InboxHarness[Tx], consumer string, fake *clocktest.Fake, observer bulwark.Observer) TxInbox[Tx] {
	t.Helper()
	in, err := h.NewInbox(InboxSettings{Consumer: consumer, Retention: time.Hour, Clock: fake, Observer: observer})
	require.NoError(t, err)
	return in
}

// effect is the handler that writes messageID's row and succeeds.
func effect[Tx any](h InboxHarness[Tx], messageID string) func(ctx context.Context, tx Tx) error {
	return func(ctx context.Context, tx Tx) error { return h.Effect(ctx, tx, messageID) }
}

// testInboxOnce: redeliveries of a processed message do not run the
// handler, are reported as idempotency.Duplicate events, and leave one
// effect.
func testInboxOnce[Tx any](t *testing.T, h InboxHarness[Tx]) {
	var dups []idempotency.Duplicate
	in := newTxInbox(t, h, "billing", clocktest.New(inboxStart), bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		dups = append(dups, e.(idempotency.Duplicate))
	}))
	for i := range 3 {
		ran, err := in.Process(ctx, "m-1", effect(h, "m-1"))
		require.NoError(t, err)
		assert.Equal(t, i == 0, ran, "delivery %d", i+1)
	}
	assert.Equal(t, 1, h.Effects(t, "m-1"))
	require.Len(t, dups, 2)
	for _, d := range dups {
		assert.Equal(t, "billing", d.Consumer)
		assert.Equal(t, "m-1", d.MessageID)
	}
}

// testInboxConsumers: message IDs are scoped by consumer, so a message one
// consumer processed still runs in another.
func testInboxConsumers[Tx any](t *testing.T, h InboxHarness[Tx]) {
	fake := clocktest.New(inboxStart)
	billing, shipping := newTxInbox(t, h, "billing", fake, nil), newTxInbox(t, h, "shipping", fake, nil)
	ran, err := billing.Process(ctx, "m-1", effect(h, "m-1"))
	require.NoError(t, err)
	require.True(t, ran)
	ran, err = shipping.Process(ctx, "m-1", effect(h, "m-1"))
	require.NoError(t, err)
	assert.True(t, ran, "another consumer processes the message too")
	assert.Equal(t, 2, h.Effects(t, "m-1"))
	ran, err = billing.Process(ctx, "m-1", effect(h, "m-1"))
	require.NoError(t, err)
	assert.False(t, ran, "the first consumer still has it processed")
}

// testInboxFailure: a handler that fails, by error or by panic, has its
// writes rolled back with the record, and the failure reaches the caller;
// the redelivery runs again, once.
func testInboxFailure[Tx any](t *testing.T, h InboxHarness[Tx]) {
	in := newTxInbox(t, h, "billing", clocktest.New(inboxStart), nil)
	writeThen := func(messageID string, fail func() error) func(ctx context.Context, tx Tx) error {
		return func(ctx context.Context, tx Tx) error {
			require.NoError(t, h.Effect(ctx, tx, messageID))
			return fail()
		}
	}
	errLater := errors.New("downstream unavailable")
	ran, err := in.Process(ctx, "m-error", writeThen("m-error", func() error { return errLater }))
	assert.True(t, ran)
	require.ErrorIs(t, err, errLater)
	assert.Panics(t, func() {
		_, _ = in.Process(ctx, "m-panic", writeThen("m-panic", func() error { panic("bug") }))
	})
	for _, id := range []string{"m-error", "m-panic"} {
		assert.Zero(t, h.Effects(t, id), "%s: the failed attempt's write is rolled back", id)
		ran, err := in.Process(ctx, id, effect(h, id))
		require.NoError(t, err)
		assert.True(t, ran, "%s: the redelivery after a failure runs", id)
		assert.Equal(t, 1, h.Effects(t, id), id)
		ran, err = in.Process(ctx, id, effect(h, id))
		require.NoError(t, err)
		assert.False(t, ran, "%s: the successful redelivery was recorded", id)
	}
}

// testInboxConcurrent: concurrent deliveries of the same messages, let go
// at once, run each handler once and leave one effect per message. The
// handler works a while after its write, so that deliveries overlap it: an
// inbox that looks the message up before it takes the message's lock runs
// it twice.
func testInboxConcurrent[Tx any](t *testing.T, h InboxHarness[Tx]) {
	in := newTxInbox(t, h, "billing", clocktest.New(inboxStart), nil)
	const messages, deliveries = 5, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ranCount := map[string]int{}
	start := make(chan struct{})
	for i := range messages * deliveries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id := fmt.Sprint("m-", i%messages)
			ran, err := in.Process(ctx, id, func(ctx context.Context, tx Tx) error {
				if err := h.Effect(ctx, tx, id); err != nil {
					return err
				}
				time.Sleep(2 * time.Millisecond) // the handler's other work
				return nil
			})
			assert.NoError(t, err)
			if ran {
				mu.Lock()
				ranCount[id]++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range messages {
		id := fmt.Sprint("m-", i)
		assert.Equal(t, 1, h.Effects(t, id), id)
		assert.Equal(t, 1, ranCount[id], id)
	}
	t.Logf("%d concurrent deliveries of %d messages: each handled once (effects counted in the database)", messages*deliveries, messages)
}

// testInboxRetention: a processed ID is kept, and skipped, until its
// retention ends to the millisecond; Cleanup then deletes it, and a later
// delivery runs again.
func testInboxRetention[Tx any](t *testing.T, h InboxHarness[Tx]) {
	fake := clocktest.New(inboxStart)
	in := newTxInbox(t, h, "billing", fake, nil)
	_, err := in.Process(ctx, "m-1", effect(h, "m-1"))
	require.NoError(t, err)
	fake.Advance(time.Hour - time.Millisecond)
	n, err := in.Cleanup(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)
	ran, err := in.Process(ctx, "m-1", effect(h, "m-1"))
	require.NoError(t, err)
	assert.False(t, ran)
	fake.Advance(time.Millisecond)
	n, err = in.Cleanup(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	ran, err = in.Process(ctx, "m-1", effect(h, "m-1"))
	require.NoError(t, err)
	assert.True(t, ran, "after the retention the ID is forgotten")
}

// CheckInbox builds an inbox of h with s, its Clock replaced by a fake
// clock, and checks that it handles a new message once, skips its
// redelivery, and handles it again once retention (the retention s stands
// for) has passed. A driver's FuzzNewInbox calls it with every setting its
// NewInbox accepts.
func CheckInbox[Tx any](t *testing.T, h InboxHarness[Tx], s InboxSettings, retention time.Duration) {
	t.Helper()
	fake := clocktest.New(inboxStart)
	s.Clock = fake
	in, err := h.NewInbox(s)
	require.NoError(t, err)
	id := RandomName("m-")
	for i, want := range []bool{true, false} {
		ran, err := in.Process(ctx, id, effect(h, id))
		require.NoError(t, err)
		require.Equal(t, want, ran, "delivery %d", i+1)
	}
	fake.Advance(retention - time.Millisecond)
	ran, err := in.Process(ctx, id, effect(h, id))
	require.NoError(t, err)
	require.False(t, ran, "kept until the retention ends")
	fake.Advance(time.Millisecond)
	ran, err = in.Process(ctx, id, effect(h, id))
	require.NoError(t, err)
	require.True(t, ran, "forgotten when the retention ended")
}
