package sqlitesaga_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/saga/sagatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func newStore(t *testing.T, db *sql.DB) *sqlitesaga.Store {
	t.Helper()
	s, err := sqlitesaga.New(db, sqlitesaga.Config{})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	require.NoError(t, s.Migrate(context.Background()), "Migrate is idempotent")
	return s
}

func TestConformance(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
	sagatest.Run(t, func(t *testing.T) sagatest.Harness {
		path := sqlitetest.Path(t)
		open := func(t *testing.T) saga.Store {
			db, err := sqlite.Open(context.Background(), path)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return newStore(t, db)
		}
		// Reopen: another process's connections to the same file.
		return sagatest.Harness{Store: open(t), Reopen: open}
	})
}

func TestNewValidatesItsArguments(t *testing.T) {
	_, err := sqlitesaga.New(nil, sqlitesaga.Config{})
	assert.EqualError(t, err, "sqlitesaga: New: db must not be nil")
	for _, table := range []string{`sagas"; DROP TABLE x`, "a.b.c", "9sagas"} {
		_, err := sqlitesaga.New(&sql.DB{}, sqlitesaga.Config{Table: table})
		assert.ErrorContains(t, err, "sqlitesaga: Config.Table", table)
	}
	assert.Equal(t, sqlitesaga.Config{Table: "sagas"}, sqlitesaga.DefaultConfig())
}

func TestSchemaQualifiedTable(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	// "main" is the database's own schema name in SQLite.
	s, err := sqlitesaga.New(db, sqlitesaga.Config{Table: "main.order_sagas"})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	require.NoError(t, s.Create(ctx, saga.Record{ID: "x", Name: "order", Status: saga.Running, Data: []byte(`{}`), Version: 1}))
	got, err := s.Get(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, "order", got.Name)
}

func TestRenewHandlesAwkwardIDs(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	s := newStore(t, db)
	ids := []string{`quote"d`, `back\slash`, "ünï", "new\nline", "bad\xffutf8", "x','y"}
	for _, id := range ids {
		require.NoError(t, s.Create(ctx, saga.Record{ID: id, Name: "order", Status: saga.Running, Owner: "me", Data: []byte(`{}`), Version: 1}))
	}
	until := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	require.NoError(t, s.Renew(ctx, "me", ids, until))
	for _, id := range ids {
		got, err := s.Get(ctx, id)
		require.NoError(t, err)
		assert.True(t, until.Equal(got.LeaseUntil), "%q", id)
	}
}

func TestRenewManyIDs(t *testing.T) {
	db := sqlitetest.Open(t)
	ctx := context.Background()
	s := newStore(t, db)
	var ids []string
	for i := range 1234 {
		id := fmt.Sprintf("s%04d", i)
		ids = append(ids, id)
		require.NoError(t, s.Create(ctx, saga.Record{ID: id, Name: "order", Status: saga.Running, Owner: "me", Data: []byte(`{}`), Version: 1}))
	}
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, s.Renew(ctx, "me", ids, until))
	var renewed int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM sagas WHERE lease_until = ?", until.UnixMicro()).Scan(&renewed))
	assert.Equal(t, len(ids), renewed, "every chunk of IDs was renewed")
}
