package idempotencytest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type payment struct {
	ID     string
	Amount int
}

func newKeeper(t *testing.T, s idempotency.Store, fake *clocktest.Fake, wait time.Duration, opts ...func(*idempotency.Config)) *idempotency.Keeper {
	t.Helper()
	cfg := idempotency.Config{Clock: fake, Wait: wait, Lease: 10 * time.Second, TTL: time.Hour, PollInterval: 100 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	k, err := idempotency.New(s, cfg)
	require.NoError(t, err)
	return k
}

func withPoll(d time.Duration) func(*idempotency.Config) {
	return func(c *idempotency.Config) { c.PollInterval = d }
}

// holdKey runs Do for req on k in a goroutine, and returns once its
// operation runs; the operation returns v when release is closed, and Do's
// error arrives on done.
func holdKey(t *testing.T, k *idempotency.Keeper, req idempotency.Request, v payment) (release chan struct{}, done <-chan error) {
	t.Helper()
	started, release, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (payment, error) {
			close(started)
			<-release
			return v, nil
		})
		errc <- err
	}()
	<-started
	return release, errc
}

type doResult struct {
	v   payment
	err error
}

// woken returns the result of a duplicate that the test expects to be
// woken without the fake clock moving, failing the test (rather than
// hanging it) if it is not within 10 s.
func woken(t *testing.T, done <-chan doResult) doResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting duplicate was not woken when the key was settled")
		return doResult{}
	}
}

// doAsync runs Do for req on k in a goroutine, with an operation that
// returns v.
func doAsync(k *idempotency.Keeper, req idempotency.Request, v payment) <-chan doResult {
	done := make(chan doResult, 1)
	go func() {
		got, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (payment, error) { return v, nil })
		done <- doResult{got, err}
	}()
	return done
}

// runKeeper checks the Keeper's promises on top of the store: the same
// behaviour whatever holds the records.
func runKeeper(t *testing.T, newStore func(t *testing.T) idempotency.Store) {
	req := idempotency.Request{Scope: "client-1", Key: "order-1", Fingerprint: []byte("body-1")}

	t.Run("DoRunsOnceAndReplays", func(t *testing.T) {
		k := newKeeper(t, newStore(t), clocktest.New(t0), 0)
		var runs atomic.Int32
		op := func(ctx context.Context) (payment, error) {
			runs.Add(1)
			return payment{ID: "pay-1", Amount: 42}, nil
		}
		for range 3 {
			got, err := idempotency.Do(ctx, k, req, op)
			require.NoError(t, err)
			assert.Equal(t, payment{ID: "pay-1", Amount: 42}, got)
		}
		assert.Equal(t, int32(1), runs.Load())
		_, err := idempotency.Do(ctx, k, idempotency.Request{Scope: req.Scope, Key: req.Key, Fingerprint: []byte("body-2")}, op)
		assert.ErrorIs(t, err, idempotency.ErrMismatch)
		got, err := idempotency.Do(ctx, k, idempotency.Request{Scope: "client-2", Key: req.Key, Fingerprint: []byte("body-2")}, op)
		require.NoError(t, err)
		assert.Equal(t, int32(2), runs.Load(), "another scope's key is another key")
		assert.Equal(t, "pay-1", got.ID)
	})

	t.Run("FailureReleasesFinalFailureIsStored", func(t *testing.T) {
		k := newKeeper(t, newStore(t), clocktest.New(t0), 0)
		var runs atomic.Int32
		errDown := errors.New("bank unreachable")
		_, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (payment, error) {
			runs.Add(1)
			return payment{}, errDown
		})
		require.ErrorIs(t, err, errDown)
		errDeclined := errors.New("card declined")
		_, err = idempotency.Do(ctx, k, req, func(ctx context.Context) (payment, error) {
			runs.Add(1)
			return payment{}, idempotency.Final(errDeclined)
		})
		require.ErrorIs(t, err, errDeclined, "a retry after a released failure runs again")
		_, err = idempotency.Do(ctx, k, req, func(ctx context.Context) (payment, error) {
			runs.Add(1)
			return payment{ID: "should not run"}, nil
		})
		var stored *idempotency.StoredError
		require.ErrorAs(t, err, &stored)
		assert.Equal(t, "card declined", stored.Message)
		assert.Equal(t, int32(2), runs.Load())
	})

	t.Run("PanicReleases", func(t *testing.T) {
		k := newKeeper(t, newStore(t), clocktest.New(t0), 0)
		assert.Panics(t, func() {
			_, _ = idempotency.Do(ctx, k, req, func(ctx context.Context) (int, error) { panic("boom") })
		})
		got, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (int, error) { return 7, nil })
		require.NoError(t, err)
		assert.Equal(t, 7, got)
	})

	t.Run("DuplicateInFlightIsRejectedAtOnce", func(t *testing.T) {
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 0)
		att, _, err := k.Start(ctx, req)
		require.NoError(t, err)
		require.NotNil(t, att)
		fake.Advance(2500 * time.Millisecond)
		_, err = idempotency.Do(ctx, k, req, func(ctx context.Context) (int, error) { return 1, nil })
		assert.ErrorIs(t, err, idempotency.ErrInProgress)
		var busy *idempotency.InProgressError
		require.ErrorAs(t, err, &busy)
		assert.Equal(t, 7500*time.Millisecond, busy.Wait, "the rest of the holder's 10 s lease")
		wait, ok := bulwark.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 7500*time.Millisecond, wait)
	})

	t.Run("DuplicateWaitsForTheOutcome", func(t *testing.T) {
		// The holder runs in another process (another Keeper on the same
		// store): the waiting duplicate learns of its outcome by polling.
		fake := clocktest.New(t0)
		s := newStore(t)
		holder, k := newKeeper(t, s, fake, 5*time.Second), newKeeper(t, s, fake, 5*time.Second)
		release, holderDone := holdKey(t, holder, req, payment{ID: "first", Amount: 1})
		done := doAsync(k, req, payment{ID: "duplicate ran"})
		fake.BlockUntil(1)
		fake.Advance(time.Second) // the duplicate looks, and waits on
		fake.BlockUntil(1)
		close(release)
		require.NoError(t, <-holderDone)
		fake.Advance(100 * time.Millisecond)
		r := <-done
		require.NoError(t, r.err)
		assert.Equal(t, payment{ID: "first", Amount: 1}, r.v)
	})

	t.Run("DuplicateInTheSameProcessIsWokenByTheOutcome", func(t *testing.T) {
		// No poll is due for an hour: only the holder's Complete can end
		// the wait, and the clock never moves.
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 2*time.Hour, withPoll(time.Hour))
		release, holderDone := holdKey(t, k, req, payment{ID: "first", Amount: 1})
		done := doAsync(k, req, payment{ID: "duplicate ran"})
		fake.BlockUntil(1)
		close(release)
		require.NoError(t, <-holderDone)
		r := woken(t, done)
		require.NoError(t, r.err)
		assert.Equal(t, payment{ID: "first", Amount: 1}, r.v)
		assert.Equal(t, t0, fake.Now())
	})

	t.Run("DuplicateInTheSameProcessIsWokenByARelease", func(t *testing.T) {
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 2*time.Hour, withPoll(time.Hour))
		att, _, err := k.Start(ctx, req)
		require.NoError(t, err)
		done := doAsync(k, req, payment{ID: "second"})
		fake.BlockUntil(1)
		require.NoError(t, att.Release(ctx))
		r := woken(t, done)
		require.NoError(t, r.err)
		assert.Equal(t, payment{ID: "second"}, r.v, "the released key ran again for the waiting duplicate")
		assert.Equal(t, t0, fake.Now())
	})

	t.Run("WaitIsBounded", func(t *testing.T) {
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 5*time.Second)
		_, _, err := k.Start(ctx, req)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() {
			_, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (int, error) { return 1, nil })
			done <- err
		}()
		for range 50 {
			fake.BlockUntil(1)
			fake.Advance(100 * time.Millisecond)
		}
		assert.ErrorIs(t, <-done, idempotency.ErrInProgress)
	})

	t.Run("WaitEndsWithTheContext", func(t *testing.T) {
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, time.Minute)
		_, _, err := k.Start(ctx, req)
		require.NoError(t, err)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := idempotency.Do(cctx, k, req, func(ctx context.Context) (int, error) { return 1, nil })
			done <- err
		}()
		fake.BlockUntil(1)
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})

	t.Run("DeadHolderIsTakenOverFromItsRecoveryPoint", func(t *testing.T) {
		fake := clocktest.New(t0)
		var takeovers []int
		k := newKeeper(t, newStore(t), fake, 0, func(c *idempotency.Config) {
			c.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
				if e, ok := e.(idempotency.TakenOver); ok {
					takeovers = append(takeovers, e.Attempt)
				}
			})
		})
		dead, _, err := k.Start(ctx, req)
		require.NoError(t, err)
		require.NoError(t, dead.Checkpoint(ctx, []byte("charge ch_1 created")))
		// The holder dies here. Until its lease ends, retries are told to wait.
		fake.Advance(9 * time.Second)
		_, err = idempotency.Do(ctx, k, req, func(ctx context.Context) (string, error) { return "too early", nil })
		require.ErrorIs(t, err, idempotency.ErrInProgress)
		fake.Advance(time.Second)
		got, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (string, error) {
			att := idempotency.AttemptFrom(ctx)
			require.NotNil(t, att)
			assert.Equal(t, 2, att.Number())
			return "resumed after " + string(att.RecoveryPoint()), nil
		})
		require.NoError(t, err)
		assert.Equal(t, "resumed after charge ch_1 created", got)
		assert.Equal(t, []int{2}, takeovers)
		assert.ErrorIs(t, dead.Complete(ctx, []byte("v1")), idempotency.ErrLeaseLost, "the dead holder is fenced off")
		got, err = idempotency.Do(ctx, k, req, func(ctx context.Context) (string, error) { return "ran again", nil })
		require.NoError(t, err)
		assert.Equal(t, "resumed after charge ch_1 created", got)
	})

	t.Run("LeaseLostIsReported", func(t *testing.T) {
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 0)
		v, err := idempotency.Do(ctx, k, req, func(ctx context.Context) (int, error) {
			fake.Advance(10 * time.Second) // the op outlives its lease
			if _, _, err := k.Start(ctx, req); err != nil {
				return 0, err
			}
			return 1, nil
		})
		assert.ErrorIs(t, err, idempotency.ErrLeaseLost)
		assert.Equal(t, 1, v, "the value of an operation that ran is returned")
	})

	t.Run("RecordsExpireAndCleanupRemovesThem", func(t *testing.T) {
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 0)
		var runs atomic.Int32
		op := func(ctx context.Context) (int, error) { return int(runs.Add(1)), nil }
		for i := range 3 {
			_, err := idempotency.Do(ctx, k, idempotency.Request{Key: fmt.Sprint(i)}, op)
			require.NoError(t, err)
		}
		fake.Advance(time.Hour - time.Millisecond)
		n, err := k.Cleanup(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		got, err := idempotency.Do(ctx, k, idempotency.Request{Key: "0"}, op)
		require.NoError(t, err)
		assert.Equal(t, 1, got, "replayed within the TTL")
		fake.Advance(time.Millisecond)
		_, err = k.Cleanup(ctx)
		require.NoError(t, err)
		got, err = idempotency.Do(ctx, k, idempotency.Request{Key: "0"}, op)
		require.NoError(t, err)
		assert.Equal(t, 4, got, "a key is new after the TTL")
	})

	t.Run("TimesAreWholeMilliseconds", func(t *testing.T) {
		// A TTL with a sub-millisecond part ends at the whole millisecond
		// below it in every store (PostgreSQL keeps microseconds, and
		// would otherwise round the expiry up).
		fake := clocktest.New(t0)
		k := newKeeper(t, newStore(t), fake, 0, func(c *idempotency.Config) { c.TTL = time.Hour + 900*time.Microsecond })
		var runs atomic.Int32
		op := func(ctx context.Context) (int, error) { return int(runs.Add(1)), nil }
		_, err := idempotency.Do(ctx, k, req, op)
		require.NoError(t, err)
		fake.Advance(time.Hour - time.Millisecond)
		got, err := idempotency.Do(ctx, k, req, op)
		require.NoError(t, err)
		assert.Equal(t, 1, got, "replayed within the TTL")
		fake.Advance(time.Millisecond)
		got, err = idempotency.Do(ctx, k, req, op)
		require.NoError(t, err)
		assert.Equal(t, 2, got, "new at the TTL's last whole millisecond")
	})

	t.Run("Inbox", func(t *testing.T) { testInbox(t, newStore(t)) })
}

func testInbox(t *testing.T, s idempotency.Store) {
	fake := clocktest.New(t0)
	k := newKeeper(t, s, fake, 0)
	var dups []string
	in, err := idempotency.NewInbox(k, idempotency.InboxConfig{Consumer: "billing", Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		dups = append(dups, e.(idempotency.Duplicate).MessageID)
	})})
	require.NoError(t, err)
	other, err := idempotency.NewInbox(k, idempotency.InboxConfig{Consumer: "shipping"})
	require.NoError(t, err)

	var effects atomic.Int32
	handle := func(ctx context.Context) error { effects.Add(1); return nil }
	ran, err := in.Process(ctx, "m-1", handle)
	require.NoError(t, err)
	assert.True(t, ran)
	ran, err = in.Process(ctx, "m-1", handle)
	require.NoError(t, err)
	assert.False(t, ran, "a redelivered message is skipped")
	assert.Equal(t, []string{"m-1"}, dups)
	ran, err = other.Process(ctx, "m-1", handle)
	require.NoError(t, err)
	assert.True(t, ran, "each consumer processes the message")

	// A failed attempt is not recorded: the redelivery runs again (unlike a
	// deduplicator that records the ID before handling).
	errDB := errors.New("database down")
	ran, err = in.Process(ctx, "m-2", func(ctx context.Context) error { return errDB })
	assert.True(t, ran)
	assert.ErrorIs(t, err, errDB)
	ran, err = in.Process(ctx, "m-2", handle)
	require.NoError(t, err)
	assert.True(t, ran, "the redelivery after a failure runs")
	assert.Equal(t, int32(3), effects.Load())

	// Retention: after the TTL and a cleanup, the ID is forgotten.
	fake.Advance(time.Hour)
	_, err = k.Cleanup(ctx)
	require.NoError(t, err)
	ran, err = in.Process(ctx, "m-1", handle)
	require.NoError(t, err)
	assert.True(t, ran)
}
