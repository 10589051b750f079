package sqlitecqrs_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitecqrs"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqliteeventsource"
	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/cqrs/cqrstest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	faultPathVar  = "BULWARK_SQLITECQRS_FAULT_PATH"
	faultIDVar    = "BULWARK_SQLITECQRS_FAULT_ID"
	faultCallsVar = "BULWARK_SQLITECQRS_FAULT_CALLS"
	faultKills    = 6
)

func eventStore(db *sql.DB) (*sqliteeventsource.Store, error) {
	cfg := sqliteeventsource.DefaultConfig()
	cfg.DB = db
	return sqliteeventsource.New(cfg)
}

// runProjectorChild is a projector process of TestSIGKILLedProjectors: it
// projects every event into the table applied, one row per event, and logs
// each handler call, until it is killed. SQLite cannot announce another
// process's appends, so it polls.
func runProjectorChild() {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "projector child:", err)
		os.Exit(1)
	}
	db, err := sqlite.Open(ctx, os.Getenv(faultPathVar))
	if err != nil {
		fail(err)
	}
	events, err := eventStore(db)
	if err != nil {
		fail(err)
	}
	checkpoints, err := sqlitecqrs.New(sqlitecqrs.Config{DB: db, Table: "bulwark_projections"})
	if err != nil {
		fail(err)
	}
	calls, err := cqrstest.OpenCallLog(os.Getenv(faultCallsVar))
	if err != nil {
		fail(err)
	}
	id := os.Getenv(faultIDVar)
	cfg := cqrs.DefaultConfig[*sql.Tx]()
	cfg.Events, cfg.Checkpoints, cfg.InstanceID = events, checkpoints, id
	cfg.BatchSize, cfg.LeaseDuration, cfg.PollInterval = 50, 2*time.Second, 50*time.Millisecond
	cfg.RetryDelay, cfg.MaxRetryDelay = 10*time.Millisecond, 200*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cfg.Projections = []cqrs.Projection[*sql.Tx]{{
		Name: "applied",
		Handle: func(ctx context.Context, tx *sql.Tx, e eventsource.Event) error {
			if err := calls.Called(e.GlobalPosition); err != nil {
				return err
			}
			time.Sleep(200 * time.Microsecond) // a read model with some work to do: kills land mid-batch
			_, err := tx.ExecContext(ctx, `INSERT INTO applied (position, owner) VALUES (?, ?)`, e.GlobalPosition, id)
			return err
		},
	}}
	p, err := cqrs.New(cfg)
	if err != nil {
		fail(err)
	}
	_ = p.Run(ctx)
}

// TestSIGKILLedProjectors runs two projector processes on one projection
// in one database file while four writers append events, and repeatedly
// kills the one holding the lease with SIGKILL (often mid-batch), starting
// a new one each time. Every event must be applied to the read model
// exactly once, and no two processes may ever have run the projection at
// the same time.
func TestSIGKILLedProjectors(t *testing.T) {
	testenv.SkipUnderRace(t)
	ctx := context.Background()
	path := sqlitetest.Path(t)
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	events, err := eventStore(db)
	require.NoError(t, err)
	require.NoError(t, events.Migrate(ctx))
	newStore(t, db)
	_, err = db.ExecContext(ctx, `CREATE TABLE applied (position INTEGER NOT NULL, owner TEXT NOT NULL)`)
	require.NoError(t, err)

	dir := t.TempDir()
	type child struct {
		cmd  *exec.Cmd
		done chan struct{}
	}
	children := map[string]*child{}
	logs := map[string]string{}
	n := 0
	start := func() {
		n++
		id := fmt.Sprint("projector-", n)
		logs[id] = filepath.Join(dir, id+".calls")
		cmd := testenv.Command(t, "projector", faultPathVar+"="+path, faultIDVar+"="+id, faultCallsVar+"="+logs[id])
		require.NoError(t, cmd.Start())
		c := &child{cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(c.done) }()
		children[id] = c
	}
	kill := func(id string) {
		c := children[id]
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
		delete(children, id)
	}
	t.Cleanup(func() {
		for id := range children {
			kill(id)
		}
	})
	start()
	start()

	// Writers append all along, so that each new holder has a backlog to
	// catch up with when it is killed in turn.
	stop := make(chan struct{})
	var appended atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Duration(rng.IntN(20000)) * time.Microsecond):
				}
				batch := make([]eventsource.EventData, 1+rng.IntN(4))
				for i := range batch {
					batch[i] = eventsourcetest.NewEvent("e", `{}`)
				}
				if _, err := events.Append(ctx, fmt.Sprint("stream-", rng.IntN(50)), eventsource.Any, batch...); err != nil {
					t.Errorf("appending: %v", err)
					return
				}
				appended.Add(int64(len(batch)))
			}
		}()
	}
	// Kill each holder soon after it took over (while it catches up): each
	// round waits for another process to take the lease over.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	for kills := 0; kills < faultKills; {
		var owner string
		err := db.QueryRowContext(ctx, `SELECT owner FROM bulwark_projections WHERE name = 'applied'`).Scan(&owner)
		if err == sql.ErrNoRows || children[owner] == nil {
			time.Sleep(20 * time.Millisecond) // not claimed yet, or its holder is dead
			continue
		}
		require.NoError(t, err)
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		kill(owner)
		kills++
		start()
	}
	close(stop)
	wg.Wait()

	head, err := events.HeadPosition(ctx)
	require.NoError(t, err)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pos int64
		require.NoError(t, db.QueryRowContext(ctx, `SELECT position FROM bulwark_projections WHERE name = 'applied'`).Scan(&pos))
		if pos == head {
			break
		}
		require.True(t, time.Now().Before(deadline), "the projection is stuck at %d of %d", pos, head)
		time.Sleep(100 * time.Millisecond)
	}
	for id := range children {
		kill(id)
	}

	var stored, rows, distinct, holders, missing int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM bulwark_events`).Scan(&stored))
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT position), count(DISTINCT owner) FROM applied`).Scan(&rows, &distinct, &holders))
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM bulwark_events e WHERE NOT EXISTS (SELECT 1 FROM applied a WHERE a.position = e.position)`).Scan(&missing))
	assert.Equal(t, stored, distinct, "every event applied")
	assert.Zero(t, missing, "no event skipped")
	assert.Equal(t, stored, rows, "no event applied twice")
	assert.Equal(t, int64(stored), appended.Load())
	calls := cqrstest.VerifyCalls(t, logs)
	t.Logf("%d events appended by 4 writers while %d holders were SIGKILLed; %d processes applied events; %d rows, one per event; %d handler calls (%d rolled back by kills)",
		stored, faultKills, holders, rows, calls, calls-rows)
}
