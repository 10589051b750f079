package cqrstest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func list(t *testing.T, s interface {
	List(context.Context) ([]cqrs.Checkpoint, error)
}) []cqrs.Checkpoint {
	t.Helper()
	cps, err := s.List(testContext(t))
	require.NoError(t, err)
	return cps
}

// sameCheckpoint compares checkpoints, times by instant.
func sameCheckpoint(t *testing.T, want, got cqrs.Checkpoint) {
	t.Helper()
	for _, p := range []struct {
		name      string
		want, got time.Time
	}{
		{"LeaseUntil", want.LeaseUntil, got.LeaseUntil},
		{"Failed.At", want.Failed.At, got.Failed.At},
		{"UpdatedAt", want.UpdatedAt, got.UpdatedAt},
	} {
		assert.True(t, p.want.Equal(p.got), "%s: want %v, got %v", p.name, p.want, p.got)
		assert.Equal(t, p.want.IsZero(), p.got.IsZero(), "%s: the zero time stays zero", p.name)
	}
	want.LeaseUntil, want.Failed.At, want.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	got.LeaseUntil, got.Failed.At, got.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	assert.Equal(t, want, got)
}

// testUpdateCreates: Update of a projection without a checkpoint hands fn a
// zero checkpoint with the name and version, and stores it when fn returns
// nil.
func testUpdateCreates[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	assert.Empty(t, list(t, h.Store), "an empty store")
	var seen cqrs.Checkpoint
	require.NoError(t, h.Store.Update(ctx, "balances", 3, func(_ context.Context, _ Tx, cp *cqrs.Checkpoint) error {
		seen = *cp
		return nil
	}))
	sameCheckpoint(t, cqrs.Checkpoint{Name: "balances", Version: 3}, seen)
	cps := list(t, h.Store)
	require.Len(t, cps, 1)
	sameCheckpoint(t, cqrs.Checkpoint{Name: "balances", Version: 3}, cps[0])
}

// testUpdateStores: every field fn sets is stored and read back, by List
// and by the next Update; fn cannot rename the checkpoint; what fn writes
// through tx commits with it.
func testUpdateStores[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	full := cqrs.Checkpoint{
		Name: "ünïcode 'name' \"quoted\"", Version: 7, Position: 1<<53 + 1, Live: true,
		Owner: "projector-1", LeaseUntil: epoch.Add(time.Minute).In(paris),
		Failed:    cqrs.Failure{Position: 1 << 40, Error: "event 3 of stream \"a\": " + strings.Repeat("ü'\"\\", 2000), At: epoch},
		UpdatedAt: epoch.Add(time.Second),
	}
	for _, want := range []cqrs.Checkpoint{
		full,
		{Name: full.Name, Version: 7, Position: 5}, // back to zero values
		{Name: strings.Repeat("n", cqrs.MaxNameLen), Version: 0, Owner: strings.Repeat("o", cqrs.MaxNameLen), LeaseUntil: epoch},
	} {
		require.NoError(t, h.Store.Update(ctx, want.Name, want.Version, func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error {
			*cp = want
			cp.Name, cp.Version = "renamed", 99 // ignored
			return h.Record(ctx, tx, want.Name, want.Position)
		}))
		var seen cqrs.Checkpoint
		require.NoError(t, h.Store.Update(ctx, want.Name, want.Version, func(_ context.Context, _ Tx, cp *cqrs.Checkpoint) error {
			seen = *cp
			return nil
		}))
		sameCheckpoint(t, want, seen)
		var listed cqrs.Checkpoint
		for _, cp := range list(t, h.Store) {
			if cp.Name == want.Name && cp.Version == want.Version {
				listed = cp
			}
		}
		sameCheckpoint(t, want, listed)
	}
	assert.Len(t, list(t, h.Store), 2, "no checkpoint was renamed")
	assert.Equal(t, []int64{5, 1<<53 + 1}, h.Recorded(t, full.Name), "writes through tx are committed")
}

// testUpdateRollsBack: when fn fails, Update returns its error, stores
// nothing (not even a new checkpoint), and rolls back what fn wrote through
// tx (when the store is transactional).
func testUpdateRollsBack[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	boom := errors.New("handler failed")
	err := h.Store.Update(ctx, "new", 0, func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error {
		cp.Position = 10
		if err := h.Record(ctx, tx, "new", 10); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Empty(t, list(t, h.Store), "a checkpoint created for a failed update is not stored")

	require.NoError(t, h.Store.Update(ctx, "p", 0, func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error {
		cp.Position, cp.Owner = 1, "a"
		return h.Record(ctx, tx, "p", 1)
	}))
	err = h.Store.Update(ctx, "p", 0, func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error {
		cp.Position, cp.Owner = 2, "b"
		if err := h.Record(ctx, tx, "p", 2); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	cps := list(t, h.Store)
	require.Len(t, cps, 1)
	assert.Equal(t, int64(1), cps[0].Position)
	assert.Equal(t, "a", cps[0].Owner)
	if h.Transactional {
		assert.Equal(t, []int64{1}, h.Recorded(t, "p"), "writes of a failed update are rolled back")
		assert.Empty(t, h.Recorded(t, "new"))
	} else {
		assert.Equal(t, []int64{1, 2}, h.Recorded(t, "p"), "without transactions, writes stay")
	}
}

// testUpdatesTakeTurns: concurrent read-modify-write Updates of one
// projection, let go at once, lose nothing: they run one at a time. Each
// fn works a while between reading the checkpoint and changing it, so that
// Updates that do not take turns overlap and lose some of their changes.
func testUpdatesTakeTurns[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	const writers, each = 6, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	start := make(chan struct{})
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range each {
				errs <- h.Store.Update(ctx, "counter", 1, func(ctx context.Context, tx Tx, cp *cqrs.Checkpoint) error {
					next := cp.Position + 1
					time.Sleep(time.Millisecond) // the update's other work
					cp.Position = next
					return h.Record(ctx, tx, "counter", next)
				})
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	cps := list(t, h.Store)
	require.Len(t, cps, 1)
	assert.Equal(t, int64(writers*each), cps[0].Position, "no update was lost")
	want := make([]int64, writers*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, h.Recorded(t, "counter"), "each update saw the one before")
}

// testListOrders: List returns every checkpoint by name (in byte order, as
// Go compares strings), then version.
func testListOrders[Tx any](t *testing.T, h Harness[Tx]) {
	ctx := testContext(t)
	keys := []struct {
		name    string
		version int
	}{{"b", 2}, {"a", 10}, {"b", 0}, {"a", 9}, {"c", 1}, {"a", 2}, {"B", 1}, {"é", 0}}
	rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for i, k := range keys {
		require.NoError(t, h.Store.Update(ctx, k.name, k.version, func(_ context.Context, _ Tx, cp *cqrs.Checkpoint) error {
			cp.Position = int64(i + 1)
			return nil
		}))
	}
	var got []string
	for _, cp := range list(t, h.Store) {
		got = append(got, fmt.Sprintf("%s/%d", cp.Name, cp.Version))
	}
	assert.Equal(t, []string{"B/1", "a/2", "a/9", "a/10", "b/0", "b/2", "c/1", "é/0"}, got, "names compare as bytes, versions as numbers")
}

// testCanceledContext: Update and List fail on a canceled context and
// store nothing.
func testCanceledContext[Tx any](t *testing.T, h Harness[Tx]) {
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	err := h.Store.Update(ctx, "p", 0, func(_ context.Context, _ Tx, cp *cqrs.Checkpoint) error {
		cp.Position = 1
		return nil
	})
	require.Error(t, err)
	_, err = h.Store.List(ctx)
	require.Error(t, err)
	assert.Empty(t, list(t, h.Store))
}
