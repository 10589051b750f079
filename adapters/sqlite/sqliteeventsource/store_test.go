package sqliteeventsource_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	eventsourcetest.MainCrashWriter(openCrashStore) // returns unless this process is a crash writer
	os.Exit(m.Run())
}

// checkLeaks fails the test if it leaves goroutines behind.
func checkLeaks(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
}

func newStore(t *testing.T, db *sql.DB) *sqliteeventsource.Store {
	t.Helper()
	return sqlitetest.Migrated(t, sqliteeventsource.New, db, sqliteeventsource.Config{})
}

func TestConformance(t *testing.T) {
	checkLeaks(t)
	eventsourcetest.Run(t, func(t *testing.T) eventsourcetest.Harness {
		db := sqlitetest.Open(t)
		s := newStore(t, db)
		return eventsourcetest.Harness{
			Store: s,
			HoldAppend: func(ctx context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (func(bool) error, error) {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return nil, err
				}
				if _, err := s.AppendTx(ctx, tx, stream, expected, events...); err != nil {
					_ = tx.Rollback()
					return nil, err
				}
				return func(commit bool) error {
					if commit {
						return tx.Commit()
					}
					return tx.Rollback()
				}, nil
			},
		}
	})
}

func TestNewValidates(t *testing.T) {
	db := &sql.DB{}
	for _, tc := range []struct {
		name string
		edit func(*sqliteeventsource.Config)
		says string
	}{
		{"BadEvents", func(c *sqliteeventsource.Config) { c.EventsTable = "ev ents" }, "Config.EventsTable"},
		{"BadSnapshots", func(c *sqliteeventsource.Config) { c.SnapshotsTable = "a.b.c" }, "Config.SnapshotsTable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sqliteeventsource.DefaultConfig()
			tc.edit(&cfg)
			_, err := sqliteeventsource.New(db, cfg)
			require.ErrorContains(t, err, tc.says)
		})
	}
	_, err := sqliteeventsource.New(nil, sqliteeventsource.Config{})
	require.ErrorContains(t, err, "sqliteeventsource: New needs a database (db is nil)")
	_, err = sqliteeventsource.New(db, sqliteeventsource.Config{})
	require.NoError(t, err, "the zero Config")
	assert.PanicsWithValue(t, "sqliteeventsource: Store used without New", func() { _, _ = (&sqliteeventsource.Store{}).HeadPosition(context.Background()) })
}

// TestAppendTxCommitsWithTheCallersWrites: events appended in a transaction
// commit or roll back with the caller's other writes, and a conflict leaves
// the transaction usable.
func TestAppendTxCommitsWithTheCallersWrites(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.Open(t)
	s := newStore(t, db)
	_, err := db.ExecContext(ctx, `CREATE TABLE messages (body TEXT)`)
	require.NoError(t, err)
	for _, commit := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = s.AppendTx(ctx, tx, "order-1", eventsource.Any, eventsourcetest.NewEvent("order.placed", `{}`))
		require.NoError(t, err)
		_, err = s.AppendTx(ctx, tx, "order-1", 5, eventsourcetest.NewEvent("order.placed", `{}`))
		require.ErrorIs(t, err, eventsource.ErrVersionConflict)
		_, err = s.AppendTx(ctx, tx, "order-2", eventsource.Any, eventsourcetest.NewEvent("order.placed", `{}`))
		require.NoError(t, err, "a second stream in the same transaction")
		_, err = tx.ExecContext(ctx, `INSERT INTO messages VALUES ('order placed')`)
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit())
		} else {
			require.NoError(t, tx.Rollback())
		}
	}
	var messages int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM messages`).Scan(&messages))
	assert.Equal(t, 1, messages)
	log, err := s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, log, 2)
	assert.Equal(t, []int64{1, 2}, []int64{log[0].GlobalPosition, log[1].GlobalPosition})
}

// TestOtherProcessesArePolled: a subscription sees appends made through
// another connection to the file (another process) at its next poll.
func TestOtherProcessesArePolled(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := sqlitetest.Path(t)
	open := func() *sql.DB {
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	mine, theirs := newStore(t, open()), newStore(t, open())
	fake := clocktest.New(time.Unix(0, 0))
	caught := make(chan int64, 10)
	got := make(chan eventsource.Event, 10)
	sub, err := eventsource.NewSubscription(mine, func(_ context.Context, e eventsource.Event) error { got <- e; return nil },
		eventsource.SubscriptionConfig{PollInterval: time.Second, Clock: fake, Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(eventsource.CaughtUp); ok {
				caught <- c.Position
			}
		})})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	require.Equal(t, int64(0), <-caught)
	e := eventsourcetest.NewEvent("e", `{}`)
	_, err = theirs.Append(ctx, "s", eventsource.NoStream, e)
	require.NoError(t, err)
	fake.BlockUntil(1)
	fake.Advance(time.Second)
	select {
	case d := <-got:
		assert.Equal(t, e.ID, d.ID)
	case <-time.After(10 * time.Second):
		t.Fatal("the poll did not deliver the other process's event")
	}
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// TestCorruptStoredRows: an event ID or headers column that cannot be
// decoded is reported with the stream, version and type, by both reads.
func TestCorruptStoredRows(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, update, says string
	}{
		{"EventID", `UPDATE bulwark_events SET event_id = x'0102' WHERE stream_version = 2`, "event ID"},
		{"Headers", `UPDATE bulwark_events SET headers = '{"n": 1}' WHERE stream_version = 2`, "headers"},
		{"HeadersNotJSON", `UPDATE bulwark_events SET headers = 'oops' WHERE stream_version = 2`, "headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := sqlitetest.Open(t)
			s := newStore(t, db)
			_, err := s.Append(ctx, "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("account.opened", `{}`))
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, tc.update)
			require.NoError(t, err)
			check := func(err error) {
				t.Helper()
				var de *eventsource.DecodeError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, "s", de.StreamID)
				assert.Equal(t, int64(2), de.StreamVersion)
				assert.Equal(t, "account.opened", de.Type)
				assert.ErrorContains(t, err, tc.says)
			}
			var last error
			for _, err := range s.ReadStream(ctx, "s", 1) {
				last = err
			}
			check(last)
			_, err = s.ReadAll(ctx, 1, 10)
			check(err)
		})
	}
}

// crashPathVar names the database file of TestKilledWriter to its crash
// writers.
const crashPathVar = "BULWARK_SQLITEEVENTSOURCE_CRASH_PATH"

// openCrashStore opens the store of a crash writer (see
// eventsourcetest.MainCrashWriter).
func openCrashStore(ctx context.Context) (eventsource.Store, error) {
	db, err := sqlite.Open(ctx, os.Getenv(crashPathVar))
	if err != nil {
		return nil, err
	}
	return sqliteeventsource.New(db, sqliteeventsource.Config{})
}

// TestKilledWriter runs eventsourcetest's crash test: a process killed with
// SIGKILL in the middle of its appends leaves its acknowledged history
// whole, the append in flight whole or not at all, and re-sending it
// stores it once.
func TestKilledWriter(t *testing.T) {
	eventsourcetest.RunCrash(t, func(t *testing.T) eventsourcetest.CrashHarness {
		path := sqlitetest.Path(t)
		db, err := sqlite.Open(context.Background(), path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return eventsourcetest.CrashHarness{Store: newStore(t, db), ChildEnv: []string{crashPathVar + "=" + path}, MaxKillDelay: 3 * time.Millisecond}
	})
}

// TestClockStampsRecordedAt: events and snapshots are stamped by
// Config.Clock.
func TestClockStampsRecordedAt(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s, err := sqliteeventsource.New(sqlitetest.Open(t), sqliteeventsource.Config{Clock: clocktest.New(at)})
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	e := eventsourcetest.NewEvent("e", `{}`)
	_, err = s.Append(ctx, "s", eventsource.NoStream, e)
	require.NoError(t, err)
	require.NoError(t, s.SaveSnapshot(ctx, eventsource.Snapshot{StreamID: "s", StreamVersion: 1, EventID: e.ID, Data: []byte(`{}`)}))
	for got, err := range s.ReadStream(ctx, "s", 1) {
		require.NoError(t, err)
		assert.Equal(t, at, got.RecordedAt)
	}
	snap, _, err := s.LoadSnapshot(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, at, snap.RecordedAt)
}
