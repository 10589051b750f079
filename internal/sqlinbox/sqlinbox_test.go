package sqlinbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/sqlinbox"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDB records IDs in a map; a transaction is the IDs it recorded.
type fakeDB struct {
	ids                 map[string]time.Time // ID → expiry
	commits, rollbacks  int
	beginErr, commitErr error
}

type fakeTx struct{ ids map[string]time.Time }

func (d *fakeDB) Begin(context.Context) (*fakeTx, error) {
	return &fakeTx{ids: map[string]time.Time{}}, d.beginErr
}

func (d *fakeDB) Record(_ context.Context, tx *fakeTx, consumer, id []byte, _, expires time.Time) (bool, error) {
	k := string(consumer) + "/" + string(id)
	if _, ok := d.ids[k]; ok {
		return false, nil
	}
	tx.ids[k] = expires
	return true, nil
}

func (d *fakeDB) Commit(_ context.Context, tx *fakeTx) error {
	if d.commitErr != nil {
		return d.commitErr
	}
	d.commits++
	for k, v := range tx.ids {
		d.ids[k] = v
	}
	return nil
}

func (d *fakeDB) Rollback(context.Context, *fakeTx) { d.rollbacks++ }

type observer []bulwark.Event

func (o *observer) Observe(_ context.Context, e bulwark.Event) { *o = append(*o, e) }

func TestNewChecksRetention(t *testing.T) {
	_, err := sqlinbox.New("kind", &fakeDB{}, sqlinbox.Config{Retention: time.Microsecond})
	assert.EqualError(t, err, "kind: InboxConfig.Retention must be 0 (meaning 168h0m0s) or at least 1ms, got 1µs")
	_, err = sqlinbox.New("kind", &fakeDB{}, sqlinbox.Config{Retention: time.Millisecond})
	assert.NoError(t, err)
}

// TestProcessRunsOnce: the first delivery runs and records the ID until
// the retention ends; a duplicate runs nothing and is observed; a failed
// handler or commit leaves the ID unrecorded, its error returned.
func TestProcessRunsOnce(t *testing.T) {
	ctx := context.Background()
	db := &fakeDB{ids: map[string]time.Time{}}
	var events observer
	in, err := sqlinbox.New("kind", db, sqlinbox.Config{Consumer: "c", Name: "n", Observer: &events})
	require.NoError(t, err)
	handle := func(context.Context, *fakeTx) error { return nil }

	ran, err := in.Process(ctx, "m1", handle)
	require.NoError(t, err)
	assert.True(t, ran)
	assert.WithinDuration(t, time.Now().Add(sqlinbox.DefaultRetention), db.ids["c/m1"], time.Second)

	ran, err = in.Process(ctx, "m1", handle)
	require.NoError(t, err)
	assert.False(t, ran)
	assert.Equal(t, observer{idempotency.Duplicate{Name: "n", Consumer: "c", MessageID: "m1"}}, events)
	assert.Equal(t, 1, db.rollbacks, "the duplicate's transaction")

	boom := errors.New("boom")
	ran, err = in.Process(ctx, "m2", func(context.Context, *fakeTx) error { return boom })
	assert.True(t, ran)
	assert.ErrorIs(t, err, boom)
	db.commitErr = boom
	ran, err = in.Process(ctx, "m2", handle)
	assert.True(t, ran)
	assert.EqualError(t, err, `kind: inbox "c": committing message "m2": boom`)
	assert.NotContains(t, db.ids, "c/m2")
	assert.Equal(t, 3, db.rollbacks)

	db.beginErr = boom
	_, err = in.Process(ctx, "m3", handle)
	assert.EqualError(t, err, `kind: inbox "c": begin: boom`)
	_, err = in.Process(ctx, "", handle)
	assert.EqualError(t, err, "kind: the message ID must not be empty")
}
