package idempotency_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultyStore wraps a store and fails or corrupts what the test asks for.
type faultyStore struct {
	idempotency.Store
	claimErr error
	outcome  []byte // replaces stored outcomes when set
	deletes  atomic.Int32
}

func (s *faultyStore) Claim(ctx context.Context, c idempotency.Claim) (idempotency.Record, error) {
	if s.claimErr != nil {
		return idempotency.Record{}, s.claimErr
	}
	rec, err := s.Store.Claim(ctx, c)
	if s.outcome != nil && rec.State == idempotency.Completed {
		rec.Outcome = s.outcome
	}
	return rec, err
}

func (s *faultyStore) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	s.deletes.Add(1)
	return s.Store.DeleteExpired(ctx, now, limit)
}

func keeperOn(t *testing.T, s idempotency.Store, edit func(*idempotency.Config)) *idempotency.Keeper {
	var cfg idempotency.Config
	if edit != nil {
		edit(&cfg)
	}
	k, err := idempotency.New(s, cfg)
	require.NoError(t, err)
	return k
}

func TestDoReportsUnusableOutcomes(t *testing.T) {
	ctx := context.Background()
	s := &faultyStore{Store: idempotency.NewMemoryStore()}
	k := keeperOn(t, s, nil)
	_, err := idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (chan int, error) { return make(chan int), nil })
	require.ErrorContains(t, err, "encoding the outcome")
	v, err := idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (int, error) { return 3, nil })
	require.NoError(t, err, "an outcome that could not be stored released the key")
	assert.Equal(t, 3, v)

	s.outcome = []byte("v{not json")
	_, err = idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (int, error) { return 4, nil })
	assert.ErrorContains(t, err, "decoding the stored outcome")
	s.outcome = []byte("x")
	_, err = idempotency.Do(ctx, k, idempotency.Request{Key: "chan"}, func(ctx context.Context) (int, error) { return 4, nil })
	assert.ErrorContains(t, err, "is not Do's")
}

func TestStoreErrorsAreWrapped(t *testing.T) {
	boom := errors.New("connection refused")
	k := keeperOn(t, &faultyStore{Store: idempotency.NewMemoryStore(), claimErr: boom}, nil)
	_, err := idempotency.Do(context.Background(), k, idempotency.Request{Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, `claiming key "k"`)
}

// The Keeper reports each replay and each takeover to its Observer, with
// the context of the request that caused it.
func TestKeeperEvents(t *testing.T) {
	type ctxKey struct{}
	fake := clocktest.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var events []bulwark.Event
	k := keeperOn(t, idempotency.NewMemoryStore(), func(c *idempotency.Config) {
		c.Name, c.Clock, c.Lease = "payments", fake, time.Second
		c.Observer = bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
			assert.Equal(t, "request", ctx.Value(ctxKey{}), "the context of the request")
			events = append(events, e)
		})
	})
	ctx := context.WithValue(context.Background(), ctxKey{}, "request")
	ref := idempotency.Ref{Scope: "s", Key: "k"}
	for range 3 {
		_, err := idempotency.Do(ctx, k, idempotency.Request{Scope: "s", Key: "k"}, func(ctx context.Context) (int, error) { return 1, nil })
		require.NoError(t, err)
	}
	_, _, err := k.Start(ctx, idempotency.Request{Key: "dead"})
	require.NoError(t, err)
	fake.Advance(time.Second)
	_, _, err = k.Start(ctx, idempotency.Request{Key: "dead"})
	require.NoError(t, err)

	require.Equal(t, []bulwark.Event{
		idempotency.Replayed{Name: "payments", Ref: ref},
		idempotency.Replayed{Name: "payments", Ref: ref},
		idempotency.TakenOver{Name: "payments", Ref: idempotency.Ref{Key: "dead"}, Attempt: 2},
	}, events)
	assert.Equal(t, "idempotency.replayed", events[0].Kind())
	assert.Equal(t, "payments", events[0].Component())
	assert.Equal(t, "[scope=s key=k]", events[0].LogValue().String())
	assert.Equal(t, "idempotency.taken_over", events[2].Kind())
	assert.Equal(t, "[scope= key=dead attempt=2]", events[2].LogValue().String())
}

// A nil Attempt (a request without a key) is safe to use: its methods do
// nothing and report success.
func TestNilAttemptIsSafe(t *testing.T) {
	ctx := context.Background()
	att := idempotency.AttemptFrom(ctx)
	require.Nil(t, att)
	assert.Zero(t, att.Ref())
	assert.Zero(t, att.Number())
	assert.Nil(t, att.RecoveryPoint())
	assert.NoError(t, att.Checkpoint(ctx, []byte("p")))
	assert.NoError(t, att.Complete(ctx, []byte("o")))
	assert.NoError(t, att.Release(ctx))
	assert.Empty(t, att.DownstreamKey("payments"))
}

func TestDeriveKey(t *testing.T) {
	ref := idempotency.Ref{Scope: "client-1", Key: "order-17"}
	k := idempotency.DeriveKey(ref, "payments.charge")
	assert.Equal(t, k, idempotency.DeriveKey(ref, "payments.charge"), "stable")
	assert.Len(t, k, 43)
	assert.Regexp(t, `^[A-Za-z0-9_-]{43}$`, k)
	long := idempotency.Ref{Scope: strings.Repeat("s", 10000), Key: strings.Repeat("k", 10000)}
	assert.Len(t, idempotency.DeriveKey(long, strings.Repeat("p", 10000)), 43, "bounded")
	seen := map[string]string{}
	for _, c := range []struct {
		ref     idempotency.Ref
		purpose string
	}{
		{ref, "payments.charge"},
		{ref, "stock.reserve"},
		{idempotency.Ref{Scope: "client-2", Key: "order-17"}, "payments.charge"},
		{idempotency.Ref{Scope: "client-1", Key: "order-18"}, "payments.charge"},
		// Boundaries between the parts cannot be moved.
		{idempotency.Ref{Scope: "client-1order-17", Key: ""}, "payments.charge"},
		{idempotency.Ref{Scope: "client-1", Key: "order-17payments.charge"}, ""},
	} {
		k := idempotency.DeriveKey(c.ref, c.purpose)
		if prev, dup := seen[k]; dup {
			t.Errorf("%v/%q derives the key of %s", c.ref, c.purpose, prev)
		}
		seen[k] = c.ref.Scope + "/" + c.ref.Key + "/" + c.purpose
	}
}
