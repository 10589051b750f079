package eventsourcetest

import (
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSnapshots: a stream's snapshot is kept and returned whole; a newer
// one replaces it, an older one of the same schema does not, one of another
// schema does; invalid snapshots are refused.
func testSnapshots(t *testing.T, h Harness) {
	ctx := testContext(t)
	s := h.Store
	_, found, err := s.LoadSnapshot(ctx, "acc-1")
	require.NoError(t, err)
	assert.False(t, found, "no snapshot yet")

	snap := func(version int64, schema int, data string) eventsource.Snapshot {
		return eventsource.Snapshot{StreamID: "acc-1", StreamVersion: version, EventID: uuid.New(), SchemaVersion: schema, Data: []byte(data)}
	}
	load := func() eventsource.Snapshot {
		t.Helper()
		got, found, err := s.LoadSnapshot(ctx, "acc-1")
		require.NoError(t, err)
		require.True(t, found)
		return got
	}
	before := time.Now().Add(-time.Second)
	v5 := snap(5, 1, `{"balance":5}`)
	require.NoError(t, s.SaveSnapshot(ctx, v5))
	got := load()
	assert.Equal(t, v5.StreamID, got.StreamID)
	assert.Equal(t, v5.StreamVersion, got.StreamVersion)
	assert.Equal(t, v5.EventID, got.EventID)
	assert.Equal(t, v5.SchemaVersion, got.SchemaVersion)
	assert.Equal(t, v5.Data, got.Data)
	assert.True(t, got.RecordedAt.After(before) && got.RecordedAt.Before(time.Now().Add(time.Second)), "RecordedAt %v", got.RecordedAt)

	got.Data[0] = 'X'
	assert.Equal(t, v5.Data, load().Data, "the stored snapshot is not shared with the caller")

	v7 := snap(7, 1, `{"balance":7}`)
	require.NoError(t, s.SaveSnapshot(ctx, v7))
	assert.Equal(t, v7.EventID, load().EventID, "a newer snapshot replaces the older")
	require.NoError(t, s.SaveSnapshot(ctx, snap(6, 1, `{"balance":6}`)))
	assert.Equal(t, v7.EventID, load().EventID, "an older snapshot of the same schema never replaces a newer one")
	v3 := snap(3, 2, `{"cents":300}`)
	require.NoError(t, s.SaveSnapshot(ctx, v3))
	assert.Equal(t, v3.EventID, load().EventID, "a snapshot of another schema replaces the stored one")

	other := eventsource.Snapshot{StreamID: "acc-2", StreamVersion: 1, EventID: uuid.New(), SchemaVersion: 1, Data: []byte(`{}`)}
	require.NoError(t, s.SaveSnapshot(ctx, other))
	assert.Equal(t, v3.EventID, load().EventID, "snapshots of other streams are separate")

	for name, bad := range map[string]eventsource.Snapshot{
		"EmptyStream": {StreamVersion: 1, EventID: uuid.New()},
		"VersionZero": {StreamID: "acc-1", EventID: uuid.New()},
		"ZeroEventID": {StreamID: "acc-1", StreamVersion: 9},
	} {
		require.ErrorIs(t, s.SaveSnapshot(ctx, bad), eventsource.ErrInvalid, name)
	}
	assert.Equal(t, v3.EventID, load().EventID)
}
