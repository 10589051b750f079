package idempotency

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// settleOnBusy is a store that, the first time a Claim finds the key in
// progress, runs settle before answering: the holder finishes between the
// duplicate's read and its wait.
type settleOnBusy struct {
	Store
	settle func()
}

func (s *settleOnBusy) Claim(ctx context.Context, c Claim) (Record, error) {
	rec, err := s.Store.Claim(ctx, c)
	if err == nil && rec.State == InProgress && s.settle != nil {
		settle := s.settle
		s.settle = nil
		settle()
	}
	return rec, err
}

func newWaitingKeeper(t *testing.T, s Store, fake *clocktest.Fake) *Keeper {
	t.Helper()
	k, err := New(s, Config{Clock: fake, Lease: 10 * time.Hour, TTL: 24 * time.Hour, Wait: 2 * time.Hour, PollInterval: time.Hour})
	require.NoError(t, err)
	return k
}

// TestWaitLosesNoWakeUp: a holder that completes after the duplicate read
// the record, but before the duplicate waits, still ends the wait at once.
func TestWaitLosesNoWakeUp(t *testing.T) {
	ctx := context.Background()
	fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &settleOnBusy{Store: NewMemoryStore()}
	k := newWaitingKeeper(t, store, fake)
	req := Request{Scope: "s", Key: "k"}
	holder, _, err := k.Start(ctx, req)
	require.NoError(t, err)
	store.settle = func() { require.NoError(t, holder.Complete(ctx, []byte("outcome"))) }

	done := make(chan []byte, 1)
	go func() {
		att, outcome, err := k.Start(ctx, req)
		assert.NoError(t, err)
		assert.Nil(t, att)
		done <- outcome
	}()
	select {
	case outcome := <-done:
		assert.Equal(t, []byte("outcome"), outcome)
	case <-time.After(10 * time.Second):
		t.Fatal("the duplicate missed the completion that came between its read and its wait")
	}
	assert.Equal(t, fake.Now(), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "no poll was needed")
}

// TestWaitsLeaveNothingBehind: waits that end in every way (the outcome,
// ErrInProgress at the bound, the caller's context) leave no registration,
// so a key's wake-up does not outlive its waiters.
func TestWaitsLeaveNothingBehind(t *testing.T) {
	ctx := context.Background()
	fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	k := newWaitingKeeper(t, NewMemoryStore(), fake)
	k.cfg.Wait = 3 * time.Hour // three polls, then ErrInProgress
	req := Request{Scope: "s", Key: "k"}
	holder, _, err := k.Start(ctx, req)
	require.NoError(t, err)

	bounded := make(chan error, 1)
	go func() { _, _, err := k.Start(ctx, req); bounded <- err }()
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error, 1)
	go func() { _, _, err := k.Start(cctx, req); cancelled <- err }()
	fake.BlockUntil(2)
	cancel()
	assert.ErrorIs(t, <-cancelled, context.Canceled)
	for range 3 {
		fake.BlockUntil(1)
		fake.Advance(time.Hour)
	}
	assert.ErrorIs(t, <-bounded, ErrInProgress)

	woken := make(chan error, 1)
	go func() { _, _, err := k.Start(ctx, req); woken <- err }()
	fake.BlockUntil(1)
	require.NoError(t, holder.Complete(ctx, []byte("done")))
	assert.NoError(t, <-woken)

	k.waiters.mu.Lock()
	defer k.waiters.mu.Unlock()
	assert.Empty(t, k.waiters.m)
	assert.Zero(t, k.waiters.n.Load())
}
