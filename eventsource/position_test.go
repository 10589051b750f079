package eventsource_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAggregatePosition: Save, Handle and Load (by replay or from a
// snapshot) report the global position of the aggregate's last event, in a
// log where other streams' events come between.
func TestAggregatePosition(t *testing.T) {
	ctx := context.Background()
	mem := eventsource.NewMemoryStore()
	accounts := newAccounts(t, mem, nil)
	snapshotted, counting, problems := snapshotAccounts(t, mem, nil)

	a, err := accounts.Handle(ctx, "1", func(Account) ([]any, error) { return []any{Opened{Owner: "ada"}}, nil })
	require.NoError(t, err)
	assert.Equal(t, int64(1), a.Position)
	_, err = accounts.Handle(ctx, "2", func(Account) ([]any, error) { return []any{Opened{Owner: "bob"}, Deposited{Amount: 5}}, nil })
	require.NoError(t, err)
	require.NoError(t, accounts.Save(ctx, &a, Deposited{Amount: 1}, Deposited{Amount: 2}))
	assert.Equal(t, int64(5), a.Position, "Save: the position of the last event saved")
	a, err = snapshotted.Handle(ctx, "1", deposit(3)) // version 4
	require.NoError(t, err)
	assert.Equal(t, int64(6), a.Position, "Handle: the position of the last event saved")
	_, err = mem.Append(ctx, "other", eventsource.NoStream, eventsource.EventData{ID: uuid.New(), Type: "x", SchemaVersion: 1, Data: []byte(`{}`)})
	require.NoError(t, err)

	replayed, err := accounts.Load(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, int64(6), replayed.Position, "Load by replay")
	require.NoError(t, snapshotted.Save(ctx, &replayed, Deposited{Amount: 1}, Deposited{Amount: 1})) // versions 5, 6: a snapshot at 6
	counting.read.Store(0)
	fromSnapshot, err := snapshotted.Load(ctx, "1")
	require.NoError(t, err)
	assert.Equal(t, int64(9), fromSnapshot.Position, "Load from a snapshot with no later event")
	assert.Equal(t, int64(6), fromSnapshot.Version)
	assert.Equal(t, int64(1), counting.read.Load(), "loaded from the snapshot")
	assert.Empty(t, *problems)

	empty, err := accounts.Load(ctx, "none")
	require.NoError(t, err)
	assert.Equal(t, int64(0), empty.Position)
}
