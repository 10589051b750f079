package sqlitesaga_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/saga"
)

// TestZeroStorePanicsNamingTheType: every method of a Store made without
// New panics with a message naming it, not with a nil dereference.
func TestZeroStorePanicsNamingTheType(t *testing.T) {
	ctx := context.Background()
	var s sqlitesaga.Store
	const msg = "sqlitesaga: Store used without New"
	assert.PanicsWithValue(t, msg, func() { _ = s.Migrate(ctx) })
	assert.PanicsWithValue(t, msg, func() { _ = s.Create(ctx, saga.Record{}) })
	assert.PanicsWithValue(t, msg, func() { _ = s.Update(ctx, saga.Record{}) })
	assert.PanicsWithValue(t, msg, func() { _, _ = s.Get(ctx, "id") })
	assert.PanicsWithValue(t, msg, func() { _, _ = s.Claim(ctx, "n", "o", time.Now(), time.Now(), 1) })
	assert.PanicsWithValue(t, msg, func() { _ = s.Renew(ctx, "o", nil, time.Now()) })
	assert.PanicsWithValue(t, msg, func() { _, _ = s.List(ctx, saga.ListQuery{}) })
}
