package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Account is the state of the bank account aggregate.
type Account struct {
	Owner   string
	Balance int
	Ops     int // events applied, to tell a replay from a snapshot
}

func evolve(a Account, e any) Account {
	switch e := e.(type) {
	case Opened:
		a.Owner = e.Owner
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	}
	a.Ops++
	return a
}

var errInsufficient = errors.New("insufficient funds")

func withdraw(n int) func(Account) ([]any, error) {
	return func(a Account) ([]any, error) {
		if a.Balance < n {
			return nil, errInsufficient
		}
		return []any{Withdrawn{Amount: n}}, nil
	}
}

func deposit(n int) func(Account) ([]any, error) {
	return func(Account) ([]any, error) { return []any{Deposited{Amount: n, Currency: "EUR"}}, nil }
}

// countingStore counts the events read from streams.
type countingStore struct {
	eventsource.Store
	read atomic.Int64
}

func (c *countingStore) ReadStream(ctx context.Context, id string, from int64) iter.Seq2[eventsource.Event, error] {
	return func(yield func(eventsource.Event, error) bool) {
		for e, err := range c.Store.ReadStream(ctx, id, from) {
			if err == nil {
				c.read.Add(1)
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func newAccounts(t testing.TB, store eventsource.Store, edit func(*eventsource.RepositoryConfig[Account])) *eventsource.Repository[Account] {
	t.Helper()
	cfg := eventsource.RepositoryConfig[Account]{StreamPrefix: "account-", Backoff: retry.Constant{}}
	if edit != nil {
		edit(&cfg)
	}
	r, err := eventsource.NewRepository(store, accountRegistry(t), evolve, cfg)
	require.NoError(t, err)
	return r
}

// retries is an observer that records the Retried events.
type retries struct {
	mu     sync.Mutex
	events []eventsource.Retried
}

func (r *retries) Observe(_ context.Context, e bulwark.Event) {
	if e, ok := e.(eventsource.Retried); ok {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
}

func (r *retries) list() []eventsource.Retried {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func TestRepositoryLoadSave(t *testing.T) {
	ctx := context.Background()
	store := eventsource.NewMemoryStore()
	accounts := newAccounts(t, store, nil)

	a, err := accounts.Load(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, eventsource.Aggregate[Account]{ID: "1"}, a, "an aggregate without events")

	ctx = eventsource.ContextWithMetadata(ctx, eventsource.Metadata{CorrelationID: "req-1", CausationID: "cmd-1"})
	require.NoError(t, accounts.Save(ctx, &a, Opened{Owner: "ada"}, Deposited{Amount: 10}))
	assert.Equal(t, int64(2), a.Version)
	assert.Equal(t, Account{Owner: "ada", Balance: 10, Ops: 2}, a.State, "Save applies the events")
	require.NoError(t, accounts.Save(ctx, &a), "saving nothing does nothing")
	assert.Equal(t, int64(2), a.Version)

	loaded, err := accounts.Load(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, a, loaded)

	for e, err := range store.ReadStream(ctx, "account-1", 1) {
		require.NoError(t, err)
		assert.Equal(t, "req-1", e.Metadata.CorrelationID, "metadata from the context is stamped on every event")
		assert.Equal(t, "cmd-1", e.Metadata.CausationID)
	}
	_, err = accounts.Load(ctx, "")
	require.ErrorIs(t, err, eventsource.ErrInvalid)
}

func TestRepositorySaveConflict(t *testing.T) {
	ctx := context.Background()
	accounts := newAccounts(t, eventsource.NewMemoryStore(), nil)
	first, err := accounts.Load(ctx, "1")
	require.NoError(t, err)
	second := first
	require.NoError(t, accounts.Save(ctx, &first, Opened{Owner: "ada"}))
	err = accounts.Save(ctx, &second, Opened{Owner: "bob"})
	var conflict *eventsource.VersionConflictError
	require.ErrorAs(t, err, &conflict)
	assert.Equal(t, int64(1), conflict.Actual)
	assert.Equal(t, "account-1", conflict.StreamID)
	assert.Equal(t, eventsource.Aggregate[Account]{ID: "1"}, second, "a refused Save leaves the aggregate as it was")
}

func TestRepositoryHandleRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	store := eventsource.NewMemoryStore()
	observed := &retries{}
	accounts := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) {
		c.Name, c.Observer = "accounts", observed
	})
	_, err := accounts.Handle(ctx, "1", deposit(100))
	require.NoError(t, err)

	// A rival writer withdraws between this command's load and save, once.
	rival := newAccounts(t, store, nil)
	calls := 0
	a, err := accounts.Handle(ctx, "1", func(s Account) ([]any, error) {
		calls++
		if calls == 1 {
			_, err := rival.Handle(ctx, "1", withdraw(70))
			require.NoError(t, err)
		}
		return withdraw(50)(s)
	})
	require.ErrorIs(t, err, errInsufficient, "the retry decided again on the fresh state")
	assert.Equal(t, 30, a.State.Balance)
	assert.Equal(t, 2, calls)
	got := observed.list()
	require.Len(t, got, 1)
	assert.ErrorIs(t, got[0].Err, eventsource.ErrVersionConflict)
	got[0].Err = nil
	assert.Equal(t, eventsource.Retried{Name: "accounts", ID: "1", StreamID: "account-1", Attempt: 1}, got[0])

	a, err = accounts.Handle(ctx, "1", withdraw(30))
	require.NoError(t, err)
	assert.Equal(t, 0, a.State.Balance)
	assert.Equal(t, int64(3), a.Version)
}

func TestRepositoryHandleGivesUp(t *testing.T) {
	ctx := context.Background()
	store := eventsource.NewMemoryStore()
	accounts := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) { c.MaxAttempts = 3 })
	rival := newAccounts(t, store, nil)
	calls := 0
	_, err := accounts.Handle(ctx, "1", func(Account) ([]any, error) {
		calls++
		_, err := rival.Handle(ctx, "1", deposit(1)) // always gets in first
		require.NoError(t, err)
		return []any{Deposited{Amount: 5}}, nil
	})
	require.ErrorIs(t, err, eventsource.ErrVersionConflict)
	assert.ErrorContains(t, err, "giving up after 3 attempts")
	assert.Equal(t, 3, calls)
}

func TestRepositoryHandleNothingToSave(t *testing.T) {
	store := &countingStore{Store: eventsource.NewMemoryStore()}
	accounts := newAccounts(t, store, nil)
	a, err := accounts.Handle(context.Background(), "1", func(Account) ([]any, error) { return nil, nil })
	require.NoError(t, err)
	assert.Equal(t, int64(0), a.Version)
	assert.Empty(t, mustReadAll(t, store))
}

// flakyStore fails appends with an error that hides their outcome: commit
// says whether the failed append was stored first (a reply lost on the way
// back) or not (a request lost on the way out).
type flakyStore struct {
	eventsource.Store
	failures int
	commit   bool
	appends  int
}

var errConnectionReset = errors.New("connection reset by peer")

func (f *flakyStore) Append(ctx context.Context, id string, exp eventsource.ExpectedVersion, evs ...eventsource.EventData) (eventsource.AppendResult, error) {
	f.appends++
	if f.failures > 0 {
		f.failures--
		if f.commit {
			if _, err := f.Store.Append(ctx, id, exp, evs...); err != nil {
				return eventsource.AppendResult{}, err
			}
		}
		return eventsource.AppendResult{}, errConnectionReset
	}
	return f.Store.Append(ctx, id, exp, evs...)
}

// TestRepositoryHandleUnknownOutcome: an append that fails without saying
// whether it committed is retried with the same event IDs, so the decision
// is stored exactly once either way.
func TestRepositoryHandleUnknownOutcome(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprint("committed=", committed), func(t *testing.T) {
			ctx := context.Background()
			mem := eventsource.NewMemoryStore()
			store := &flakyStore{Store: mem, failures: 2, commit: committed}
			observed := &retries{}
			accounts := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) { c.Observer = observed })
			decisions := 0
			a, err := accounts.Handle(ctx, "1", func(s Account) ([]any, error) {
				decisions++
				return deposit(10)(s)
			})
			require.NoError(t, err)
			assert.Equal(t, 1, decisions, "the same decision is retried, not a new one")
			assert.Equal(t, 3, store.appends)
			retried := observed.list()
			assert.Len(t, retried, 2)
			assert.ErrorIs(t, retried[0].Err, errConnectionReset)
			assert.Equal(t, 10, a.State.Balance)
			assert.Len(t, mustReadAll(t, mem), 1, "stored exactly once")
		})
	}
	t.Run("attempts spent", func(t *testing.T) {
		store := &flakyStore{Store: eventsource.NewMemoryStore(), failures: 10}
		accounts := newAccounts(t, store, func(c *eventsource.RepositoryConfig[Account]) { c.MaxAttempts = 4 })
		_, err := accounts.Handle(context.Background(), "1", deposit(1))
		require.ErrorIs(t, err, errConnectionReset)
		assert.Equal(t, 4, store.appends)
	})
}

func TestRepositoryHandleReturnsDecideAndLoadErrors(t *testing.T) {
	ctx := context.Background()
	store := eventsource.NewMemoryStore()
	accounts := newAccounts(t, store, nil)
	_, err := accounts.Handle(ctx, "1", withdraw(5))
	require.ErrorIs(t, err, errInsufficient)

	_, err = store.Append(ctx, "account-2", eventsource.NoStream, eventsource.EventData{ID: uuid.New(), Type: "account.deposited", SchemaVersion: 3, Data: []byte(`{"amount":`)})
	require.NoError(t, err)
	_, err = accounts.Handle(ctx, "2", deposit(1))
	var de *eventsource.DecodeError
	require.ErrorAs(t, err, &de, "an undecodable event fails the load")
	assert.Equal(t, "account-2", de.StreamID)
	assert.Equal(t, int64(1), de.StreamVersion)

	_, err = accounts.Handle(ctx, "3", func(Account) ([]any, error) { return []any{struct{ X int }{}}, nil })
	require.ErrorIs(t, err, eventsource.ErrUnknownEventType)
}

func TestNewRepositoryValidates(t *testing.T) {
	store, reg := eventsource.NewMemoryStore(), accountRegistry(t)
	for _, tc := range []struct {
		name string
		edit func(*eventsource.RepositoryConfig[Account])
		says string
	}{
		{"NegativeAttempts", func(c *eventsource.RepositoryConfig[Account]) { c.MaxAttempts = -3 }, "RepositoryConfig.MaxAttempts must be 0 (meaning 5) or in [1, 1000], got -3"},
		{"HugeAttempts", func(c *eventsource.RepositoryConfig[Account]) { c.MaxAttempts = 1001 }, "RepositoryConfig.MaxAttempts must be 0 (meaning 5) or in [1, 1000], got 1001"},
		{"NegativeMaxDelay", func(c *eventsource.RepositoryConfig[Account]) { c.MaxDelay = -1 }, "RepositoryConfig.MaxDelay must be 0 (meaning 1s) or in (0, 24h0m0s], got -1ns"},
		{"BadBackoff", func(c *eventsource.RepositoryConfig[Account]) { c.Backoff = retry.Constant{Delay: -1} }, "RepositoryConfig.Backoff: Constant.Delay must be >= 0"},
		{"NegativeEvery", func(c *eventsource.RepositoryConfig[Account]) { c.SnapshotEvery = -1 }, "SnapshotEvery must be 0 (off) or more, got -1"},
		{"NegativeSchema", func(c *eventsource.RepositoryConfig[Account]) { c.SnapshotSchema = -1 }, "SnapshotSchema must be 0 or more, got -1"},
		{"EveryWithoutStore", func(c *eventsource.RepositoryConfig[Account]) { c.SnapshotEvery = 5 }, "need RepositoryConfig.Snapshots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg eventsource.RepositoryConfig[Account]
			tc.edit(&cfg)
			_, err := eventsource.NewRepository(store, reg, evolve, cfg)
			require.ErrorContains(t, err, tc.says)
		})
	}
	_, err := eventsource.NewRepository(nil, reg, evolve, eventsource.RepositoryConfig[Account]{})
	require.ErrorContains(t, err, "needs a Store (store is nil)")
	_, err = eventsource.NewRepository(store, nil, evolve, eventsource.RepositoryConfig[Account]{})
	require.ErrorContains(t, err, "needs a Registry (registry is nil)")
	_, err = eventsource.NewRepository[Account](store, reg, nil, eventsource.RepositoryConfig[Account]{})
	require.ErrorContains(t, err, "needs an evolve function (evolve is nil)")
	_, err = eventsource.NewRepository(store, reg, evolve, eventsource.DefaultRepositoryConfig[Account]())
	require.NoError(t, err, "the defaults spelled out are valid")
}

func mustReadAll(t *testing.T, s eventsource.Store) []eventsource.Event {
	t.Helper()
	evs, err := s.ReadAll(context.Background(), 1, 10000)
	require.NoError(t, err)
	return evs
}
