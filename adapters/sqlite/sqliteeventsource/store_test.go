package sqliteeventsource_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"crash-writer": crashWriter})
}

// checkLeaks fails the test if it leaves goroutines behind.
func checkLeaks(t *testing.T) {
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
}

func newStore(t *testing.T, db *sql.DB) *sqliteeventsource.Store {
	t.Helper()
	cfg := sqliteeventsource.DefaultConfig()
	cfg.DB = db
	s, err := sqliteeventsource.New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
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
		{"NoDB", func(c *sqliteeventsource.Config) { c.DB = nil }, "Config.DB must be set"},
		{"BadEvents", func(c *sqliteeventsource.Config) { c.EventsTable = "ev ents" }, "Config.EventsTable"},
		{"BadSnapshots", func(c *sqliteeventsource.Config) { c.SnapshotsTable = "" }, "Config.SnapshotsTable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sqliteeventsource.DefaultConfig()
			cfg.DB = db
			tc.edit(&cfg)
			_, err := sqliteeventsource.New(cfg)
			require.ErrorContains(t, err, tc.says)
		})
	}
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
	cfg := eventsource.DefaultSubscriptionConfig()
	cfg.PollInterval, cfg.Clock = time.Second, fake
	caught := make(chan int64, 10)
	cfg.OnCaughtUp = func(p int64) { caught <- p }
	sub, err := eventsource.NewSubscription(mine, cfg)
	require.NoError(t, err)
	got := make(chan eventsource.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- sub.Run(ctx, 0, func(_ context.Context, e eventsource.Event) error { got <- e; return nil })
	}()
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

// crashWriter is the child process of TestKilledWriter.
func crashWriter() {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, os.Getenv("EVENTSOURCE_DB"))
	if err != nil {
		panic(err)
	}
	cfg := sqliteeventsource.DefaultConfig()
	cfg.DB = db
	s, err := sqliteeventsource.New(cfg)
	if err != nil {
		panic(err)
	}
	_ = eventsourcetest.CrashWriter(ctx, s, os.Getenv("EVENTSOURCE_RUN"), os.Stdout)
}

// TestKilledWriter kills a process with SIGKILL in the middle of its
// appends: its acknowledged history is all there, the append in flight is
// there whole or not at all, and re-sending it stores it once.
func TestKilledWriter(t *testing.T) {
	path := sqlitetest.Path(t)
	db, err := sqlite.Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s := newStore(t, db)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := range 6 {
		run := fmt.Sprint("writer-", round)
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		eventsourcetest.VerifyCrash(t, s, run, killAfter(t, 10+rng.IntN(20), delay, "EVENTSOURCE_DB="+path, "EVENTSOURCE_RUN="+run))
	}
}

// killAfter starts the crash writer and kills it with SIGKILL delay after
// it has acknowledged n batches, returning everything it printed.
func killAfter(t *testing.T, n int, delay time.Duration, env ...string) string {
	t.Helper()
	cmd := testenv.Command(t, "crash-writer", env...)
	cmd.Stdout = nil
	return eventsourcetest.KillAfter(t, cmd, n, delay)
}

// TestClockStampsRecordedAt: events and snapshots are stamped by
// Config.Clock.
func TestClockStampsRecordedAt(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	cfg := sqliteeventsource.DefaultConfig()
	cfg.DB, cfg.Clock = sqlitetest.Open(t), clocktest.New(at)
	s, err := sqliteeventsource.New(cfg)
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
