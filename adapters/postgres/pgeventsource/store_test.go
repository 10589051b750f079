package pgeventsource_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pgtest"
	"github.com/bulwark-go/bulwark/adapters/postgres/pgeventsource"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// newStore migrates an event store in a fresh schema, with a channel of its
// own and enough connections for the suite's 32 racing writers.
func newStore(t *testing.T, edit func(*pgeventsource.Config)) (*pgeventsource.Store, *pgxpool.Pool) {
	t.Helper()
	schema, dsn := pgtest.Schema(t)
	pcfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	pcfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	cfg := pgeventsource.Config{Channel: schema}
	if edit != nil {
		edit(&cfg)
	}
	s, err := pgeventsource.New(pool, cfg)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s, pool
}

// holdAppend appends in a transaction left open until finish.
func holdAppend(s *pgeventsource.Store, pool *pgxpool.Pool) func(context.Context, string, eventsource.ExpectedVersion, ...eventsource.EventData) (func(bool) error, error) {
	return func(ctx context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (func(bool) error, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := s.AppendTx(ctx, tx, stream, expected, events...); err != nil {
			_ = tx.Rollback(ctx)
			return nil, err
		}
		return func(commit bool) error {
			if commit {
				return tx.Commit(ctx)
			}
			return tx.Rollback(ctx)
		}, nil
	}
}

func TestConformance(t *testing.T) {
	checkLeaks(t)
	eventsourcetest.Run(t, func(t *testing.T) eventsourcetest.Harness {
		s, pool := newStore(t, nil)
		return eventsourcetest.Harness{Store: s, HoldAppend: holdAppend(s, pool)}
	})
}

func TestNewValidates(t *testing.T) {
	pool := &pgxpool.Pool{}
	for _, tc := range []struct {
		name string
		edit func(*pgeventsource.Config)
		says string
	}{
		{"BadEvents", func(c *pgeventsource.Config) { c.EventsTable = "events; DROP TABLE x" }, "Config.EventsTable"},
		{"BadSnapshots", func(c *pgeventsource.Config) { c.SnapshotsTable = "a.b.c" }, "Config.SnapshotsTable"},
		{"LongEvents", func(c *pgeventsource.Config) { c.EventsTable = strings.Repeat("e", 64) }, "Config.EventsTable: \"" + strings.Repeat("e", 64) + "\": part \"" + strings.Repeat("e", 64) + "\" is 64 bytes long, 1 more than the 63 allowed"},
		{"ChannelWithDot", func(c *pgeventsource.Config) { c.Channel = "app.events" }, "Config.Channel"},
		{"ChannelQuote", func(c *pgeventsource.Config) { c.Channel = "x'y" }, "Config.Channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pgeventsource.DefaultConfig()
			tc.edit(&cfg)
			_, err := pgeventsource.New(pool, cfg)
			require.ErrorContains(t, err, tc.says)
		})
	}
	_, err := pgeventsource.New(nil, pgeventsource.Config{})
	require.ErrorContains(t, err, "pgeventsource: New needs a pool (pool is nil)")
	_, err = pgeventsource.New(pool, pgeventsource.Config{})
	require.NoError(t, err, "the zero Config")
	assert.PanicsWithValue(t, "pgeventsource: Store used without New", func() { _, _ = (&pgeventsource.Store{}).HeadPosition(context.Background()) })
}

// TestMigrateConcurrentlyAndAgain: Migrate is safe to run at once from
// several processes and again later; qualified table names work.
func TestMigrateConcurrentlyAndAgain(t *testing.T) {
	schema, dsn := pgtest.Schema(t)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s, err := pgeventsource.New(pool, pgeventsource.Config{Channel: schema, EventsTable: schema + ".ev", SnapshotsTable: schema + ".ev_snap"})
	require.NoError(t, err)
	pgtest.MigrateConcurrently(t, 4, s.Migrate)
	_, err = s.Append(context.Background(), "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
}

// TestAppendTxCommitsWithTheCallersWrites: events appended in a transaction
// commit or roll back with the caller's other writes, and a conflict leaves
// the transaction usable.
func TestAppendTxCommitsWithTheCallersWrites(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, nil)
	_, err := pool.Exec(ctx, `CREATE TABLE messages (body text)`)
	require.NoError(t, err)
	for _, commit := range []bool{false, true} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		_, err = s.AppendTx(ctx, tx, "order-1", eventsource.Any, eventsourcetest.NewEvent("order.placed", `{}`))
		require.NoError(t, err)
		_, err = s.AppendTx(ctx, tx, "order-1", 5, eventsourcetest.NewEvent("order.placed", `{}`))
		require.ErrorIs(t, err, eventsource.ErrVersionConflict, "a conflict inside the transaction")
		_, err = tx.Exec(ctx, `INSERT INTO messages VALUES ('order placed')`)
		require.NoError(t, err, "the transaction is still usable after a conflict")
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
	}
	var messages int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&messages))
	assert.Equal(t, 1, messages)
	log, err := s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, log, 1, "the rolled-back append's position is skipped")
	assert.Equal(t, "order-1", log[0].StreamID)
}

func TestAppendTxNeedsReadCommitted(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, nil)
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = s.AppendTx(ctx, tx, "s", eventsource.Any, eventsourcetest.NewEvent("e", `{}`))
	require.ErrorContains(t, err, "appends need READ COMMITTED isolation, not repeatable read")
}

// TestCorruptStoredHeaders: stored metadata that cannot be decoded is
// reported with the stream, version and type, by both reads.
func TestCorruptStoredHeaders(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, nil)
	_, err := s.Append(ctx, "s", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`), eventsourcetest.NewEvent("account.opened", `{}`))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE bulwark_events SET headers = '{"n": 1}' WHERE stream_version = 2`)
	require.NoError(t, err)
	check := func(err error) {
		t.Helper()
		var de *eventsource.DecodeError
		require.ErrorAs(t, err, &de)
		assert.Equal(t, "s", de.StreamID)
		assert.Equal(t, int64(2), de.StreamVersion)
		assert.Equal(t, "account.opened", de.Type)
		assert.ErrorContains(t, err, "headers")
	}
	var last error
	for _, err := range s.ReadStream(ctx, "s", 1) {
		last = err
	}
	check(last)
	_, err = s.ReadAll(ctx, 1, 10)
	check(err)
}

// TestListenReportsALostConnection: Listen returns an error (not nil, not
// the context's) when its connection dies, so the subscription polls and
// listens again.
func TestListenReportsALostConnection(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := newStore(t, nil)
	listening := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.Listen(ctx, func() {
			select {
			case listening <- struct{}{}:
			default:
			}
		})
	}()
	<-listening
	_, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.Error(t, err)
		assert.NotErrorIs(t, err, context.Canceled)
		assert.ErrorContains(t, err, "waiting for notifications")
	case <-ctx.Done():
		t.Fatal("Listen did not notice its connection died")
	}
}

// TestAppendsDoNotWaitForAnOpenTransaction: an append left open in a
// transaction holds back readers of the global log at its position, not
// other writers; a transaction may append to several streams.
func TestAppendsDoNotWaitForAnOpenTransaction(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := newStore(t, nil)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	held, err := s.AppendTx(ctx, tx, "a", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err)
	_, err = s.AppendTx(ctx, tx, "b", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err, "a second stream in the same transaction")

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	later, err := s.Append(wctx, "c", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
	require.NoError(t, err, "an append to another stream commits while the transaction is open")
	assert.Greater(t, later.GlobalPosition, held.GlobalPosition)

	page, err := s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	assert.Empty(t, page, "readers wait at the open transaction's position")
	require.NoError(t, tx.Commit(ctx))
	page, err = s.ReadAll(ctx, 1, 10)
	require.NoError(t, err)
	require.Len(t, page, 3)
	assert.Equal(t, []string{"a", "b", "c"}, []string{page[0].StreamID, page[1].StreamID, page[2].StreamID})
}

// TestAppendTxNotifiesOnCommit: listeners hear of events appended in a
// transaction when it commits.
func TestAppendTxNotifiesOnCommit(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, pool := newStore(t, nil)
	woke := make(chan struct{}, 1)
	done := make(chan error, 1)
	lctx, lcancel := context.WithCancel(ctx)
	go func() {
		done <- s.Listen(lctx, func() {
			select {
			case woke <- struct{}{}:
			default:
			}
		})
	}()
	<-woke
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := s.AppendTx(ctx, tx, "a", eventsource.NoStream, eventsourcetest.NewEvent("e", `{}`))
		return err
	}))
	select {
	case <-woke:
	case <-ctx.Done():
		t.Fatal("no notification after the transaction committed")
	}
	lcancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

// Where a crash writer of TestKilledWriter finds the database.
const (
	crashDSNVar     = "BULWARK_PGEVENTSOURCE_CRASH_DSN"
	crashChannelVar = "BULWARK_PGEVENTSOURCE_CRASH_CHANNEL"
)

// openCrashStore opens the store of a crash writer (see
// eventsourcetest.MainCrashWriter).
func openCrashStore(ctx context.Context) (eventsource.Store, error) {
	pool, err := pgxpool.New(ctx, os.Getenv(crashDSNVar))
	if err != nil {
		return nil, err
	}
	return pgeventsource.New(pool, pgeventsource.Config{Channel: os.Getenv(crashChannelVar)})
}

// TestKilledWriter runs eventsourcetest's crash test: a process killed with
// SIGKILL in the middle of its appends leaves its acknowledged history
// whole, the append in flight whole or not at all, and re-sending it
// stores it once.
func TestKilledWriter(t *testing.T) {
	eventsourcetest.RunCrash(t, func(t *testing.T) eventsourcetest.CrashHarness {
		schema, dsn := pgtest.Schema(t)
		pool, err := pgxpool.New(context.Background(), dsn)
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		s, err := pgeventsource.New(pool, pgeventsource.Config{Channel: schema})
		require.NoError(t, err)
		require.NoError(t, s.Migrate(context.Background()))
		return eventsourcetest.CrashHarness{Store: s, ChildEnv: []string{crashDSNVar + "=" + dsn, crashChannelVar + "=" + schema}}
	})
}

// TestClockStampsRecordedAt: events and snapshots are stamped by
// Config.Clock.
func TestClockStampsRecordedAt(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s, _ := newStore(t, func(c *pgeventsource.Config) { c.Clock = clocktest.New(at) })
	e := eventsourcetest.NewEvent("e", `{}`)
	_, err := s.Append(ctx, "s", eventsource.NoStream, e)
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
