package eventsource_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// snapshotAccounts is a repository of accounts snapshotting every 3 events
// into mem, reading through a counting store, recording snapshot problems.
func snapshotAccounts(t *testing.T, mem *eventsource.MemoryStore, edit func(*eventsource.RepositoryConfig[Account])) (*eventsource.Repository[Account], *countingStore, *[]error) {
	store := &countingStore{Store: mem}
	var problems []error
	r := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) {
		c.Snapshots, c.SnapshotEvery, c.SnapshotSchema = mem, 3, 1
		c.Logger = slog.New(slog.DiscardHandler)
		c.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			f, ok := e.(eventsource.SnapshotFailed)
			require.True(t, ok, "%T reported", e)
			assert.Equal(t, "account-1", f.StreamID)
			problems = append(problems, f.Err)
		})
		if edit != nil {
			edit(c)
		}
	})
	return r, store, &problems
}

func TestSnapshotsEveryN(t *testing.T) {
	ctx := context.Background()
	mem := eventsource.NewMemoryStore()
	accounts, store, problems := snapshotAccounts(t, mem, nil)
	var versions []int64
	for range 4 { // 1+2+... events per save: versions 1, 3, 6, 10
		a, err := accounts.Load(ctx, "1")
		require.NoError(t, err)
		n := len(versions) + 1
		evs := make([]any, n)
		for i := range evs {
			evs[i] = Deposited{Amount: 1}
		}
		require.NoError(t, accounts.Save(ctx, &a, evs...))
		snap, found, err := mem.LoadSnapshot(ctx, "account-1")
		require.NoError(t, err)
		if found {
			versions = append(versions, snap.StreamVersion)
		} else {
			versions = append(versions, 0)
		}
	}
	assert.Equal(t, []int64{0, 3, 6, 10}, versions, "a snapshot whenever a save passes a multiple of 3")

	store.read.Store(0)
	a, err := accounts.Load(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, int64(10), a.Version)
	assert.Equal(t, 10, a.State.Balance)
	assert.Equal(t, int64(1), store.read.Load(), "loading reads only the snapshot's own event to check it")
	assert.Equal(t, 10, a.State.Ops)
	assert.Empty(t, *problems)

	// Events after the snapshot are applied on top of it.
	require.NoError(t, accounts.Save(ctx, &a, Withdrawn{Amount: 4}))
	store.read.Store(0)
	b, err := accounts.Load(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, a, b)
	assert.Equal(t, int64(2), store.read.Load())
}

func TestSnapshotWhenRule(t *testing.T) {
	ctx := context.Background()
	mem := eventsource.NewMemoryStore()
	accounts, _, _ := snapshotAccounts(t, mem, func(c *eventsource.RepositoryConfig[Account]) {
		c.SnapshotEvery = 0
		c.SnapshotWhen = func(a eventsource.Aggregate[Account], saved []any) bool {
			_, ok := saved[0].(Withdrawn)
			return ok
		}
	})
	_, err := accounts.Handle(ctx, "1", deposit(10))
	require.NoError(t, err)
	_, found, err := mem.LoadSnapshot(ctx, "account-1")
	require.NoError(t, err)
	assert.False(t, found)
	_, err = accounts.Handle(ctx, "1", withdraw(3))
	require.NoError(t, err)
	snap, found, err := mem.LoadSnapshot(ctx, "account-1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, int64(2), snap.StreamVersion)
	assert.JSONEq(t, `{"Owner":"","Balance":7,"Ops":2}`, string(snap.Data))
}

// TestSnapshotFallsBackToReplay: a snapshot that cannot be trusted is
// reported and ignored; the aggregate is rebuilt from all its events, never
// from the snapshot's (deliberately wrong) state.
func TestSnapshotFallsBackToReplay(t *testing.T) {
	ctx := context.Background()
	wrongState := []byte(`{"Owner":"mallory","Balance":9999,"Ops":1}`)
	for _, tc := range []struct {
		name string
		snap func(stream []eventsource.Event) eventsource.Snapshot
		says string
	}{
		{"OtherSchema", func(s []eventsource.Event) eventsource.Snapshot {
			return eventsource.Snapshot{StreamVersion: 4, EventID: s[3].ID, SchemaVersion: 2, Data: wrongState}
		}, "schema version 2"},
		{"Undecodable", func(s []eventsource.Event) eventsource.Snapshot {
			return eventsource.Snapshot{StreamVersion: 4, EventID: s[3].ID, SchemaVersion: 1, Data: []byte(`{"Balance":"lots"`)}
		}, "decoding version 4"},
		{"EventNotInStream", func(s []eventsource.Event) eventsource.Snapshot {
			return eventsource.Snapshot{StreamVersion: 4, EventID: uuid.New(), SchemaVersion: 1, Data: wrongState}
		}, "has no event"},
		{"AheadOfStream", func(s []eventsource.Event) eventsource.Snapshot {
			return eventsource.Snapshot{StreamVersion: 50, EventID: s[5].ID, SchemaVersion: 1, Data: wrongState}
		}, "at version 50"},
		{"WrongVersionOfEvent", func(s []eventsource.Event) eventsource.Snapshot {
			return eventsource.Snapshot{StreamVersion: 4, EventID: s[2].ID, SchemaVersion: 1, Data: wrongState}
		}, "at version 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := eventsource.NewMemoryStore()
			accounts, store, problems := snapshotAccounts(t, mem, func(c *eventsource.RepositoryConfig[Account]) { c.SnapshotEvery = 0 })
			a, err := accounts.Handle(ctx, "1", func(Account) ([]any, error) {
				return []any{Opened{Owner: "ada"}, Deposited{Amount: 5}, Deposited{Amount: 6}, Withdrawn{Amount: 1}, Deposited{Amount: 2}, Deposited{Amount: 3}}, nil
			})
			require.NoError(t, err)
			var stream []eventsource.Event
			for e, err := range mem.ReadStream(ctx, "account-1", 1) {
				require.NoError(t, err)
				stream = append(stream, e)
			}
			snap := tc.snap(stream)
			snap.StreamID = "account-1"
			require.NoError(t, mem.SaveSnapshot(ctx, snap))

			store.read.Store(0)
			got, err := accounts.Load(ctx, "1")
			require.NoError(t, err)
			assert.Equal(t, a, got, "full replay, not the snapshot's state")
			assert.Equal(t, Account{Owner: "ada", Balance: 15, Ops: 6}, got.State)
			require.Len(t, *problems, 1)
			assert.ErrorIs(t, (*problems)[0], eventsource.ErrSnapshotUnusable)
			assert.ErrorContains(t, (*problems)[0], tc.says)
		})
	}
}

// failingSnapshots fails every load and save.
type failingSnapshots struct{}

var errSnapshotsDown = errors.New("snapshot store down")

func (failingSnapshots) SaveSnapshot(context.Context, eventsource.Snapshot) error {
	return errSnapshotsDown
}

func (failingSnapshots) LoadSnapshot(ctx context.Context, _ string) (eventsource.Snapshot, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventsource.Snapshot{}, false, err
	}
	return eventsource.Snapshot{}, false, errSnapshotsDown
}

// TestSnapshotStoreFailures: a failing snapshot store never fails a command:
// loads replay, saves are reported. A canceled load still fails.
func TestSnapshotStoreFailures(t *testing.T) {
	ctx := context.Background()
	mem := eventsource.NewMemoryStore()
	accounts, _, problems := snapshotAccounts(t, mem, func(c *eventsource.RepositoryConfig[Account]) {
		c.Snapshots, c.SnapshotEvery = failingSnapshots{}, 1
	})
	a, err := accounts.Handle(ctx, "1", deposit(4))
	require.NoError(t, err)
	a2, err := accounts.Handle(ctx, "1", deposit(5))
	require.NoError(t, err)
	assert.Equal(t, 9, a2.State.Balance)
	assert.Equal(t, a.Version+1, a2.Version)
	require.Len(t, *problems, 4, "load, save, load, save")
	for _, p := range *problems {
		assert.ErrorIs(t, p, errSnapshotsDown)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = accounts.Load(canceled, "1")
	require.ErrorIs(t, err, context.Canceled)
}

// TestSnapshotPointerState: a pointer state gets a fresh value from New for
// each load, so a snapshot abandoned half-way leaves nothing behind.
func TestSnapshotPointerState(t *testing.T) {
	ctx := context.Background()
	mem := eventsource.NewMemoryStore()
	cfg := eventsource.RepositoryConfig[*Account]{Snapshots: mem, SnapshotEvery: 2}
	cfg.New = func() *Account { return &Account{} }
	accounts, err := eventsource.NewRepository(mem, accountRegistry(t), func(a *Account, e any) *Account { *a = evolve(*a, e); return a }, cfg)
	require.NoError(t, err)
	for range 5 {
		_, err := accounts.Handle(ctx, "p", func(*Account) ([]any, error) { return []any{Deposited{Amount: 2}}, nil })
		require.NoError(t, err)
	}
	a, err := accounts.Load(ctx, "p")
	require.NoError(t, err)
	assert.Equal(t, &Account{Balance: 10, Ops: 5}, a.State)
	b, err := accounts.Load(ctx, "p")
	require.NoError(t, err)
	assert.NotSame(t, a.State, b.State)
	assert.Equal(t, a.State, b.State)
}
