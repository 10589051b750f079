package sqlitesaga_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/sqlite"
	"github.com/bulwark-go/bulwark/adapters/sqlite/internal/sqlitetest"
	"github.com/bulwark-go/bulwark/adapters/sqlite/sqlitesaga"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The SQLite fault test is the PostgreSQL one (adapters/postgres/pgsaga)
// scaled down to what processes sharing one database file write in a few
// seconds: several orchestrator processes, killed with SIGKILL and
// restarted, claiming sagas from one file.
const (
	faultSagas   = 600
	faultPathVar = "BULWARK_SQLITESAGA_FAULT_PATH"
	faultIDVar   = "BULWARK_SQLITESAGA_FAULT_INSTANCE"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"orchestrator": runOrchestrator})
}

const serviceSchema = `
CREATE TABLE processed (key TEXT PRIMARY KEY);
CREATE TABLE effects (id INTEGER PRIMARY KEY AUTOINCREMENT, saga TEXT NOT NULL, step TEXT NOT NULL, compensation INTEGER NOT NULL);
CREATE TABLE repeats (key TEXT PRIMARY KEY, n INTEGER NOT NULL);`

// declined reports the sagas whose charge step fails for good, so that
// compensations are exercised as well as completions.
func declined(id string) bool { return id[len(id)-1] == '3' || id[len(id)-1] == '7' }

var errFlaky = errors.New("service unavailable")

// apply is the service: it fails at random before or after doing the work,
// and does the work of one idempotency key once.
func apply(ctx context.Context, db *sql.DB, inv saga.Invocation) error {
	if !inv.Compensation && inv.Step == "charge" && declined(inv.SagaID) {
		return retry.Permanent(errors.New("card declined"))
	}
	time.Sleep(time.Duration(2000+rand.IntN(6000)) * time.Microsecond) // the network
	if rand.IntN(100) < 8 {
		return errFlaky
	}
	tx, err := db.BeginTx(ctx, nil) // takes the write lock: one call at a time
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO processed (key) VALUES (?)`, inv.Key())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		_, err = tx.ExecContext(ctx, `INSERT INTO effects (saga, step, compensation) VALUES (?, ?, ?)`, inv.SagaID, inv.Step, inv.Compensation)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO repeats (key, n) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1`, inv.Key())
	}
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if inv.Step != "confirm" && rand.IntN(100) < 5 {
		return errors.New("reply lost after the work was done")
	}
	return nil
}

type faultOrder struct{ ID string }

func runOrchestrator() {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "orchestrator child:", err)
		os.Exit(1)
	}
	db, err := sqlite.Open(ctx, os.Getenv(faultPathVar))
	if err != nil {
		fail(err)
	}
	store, err := sqlitesaga.New(db, sqlitesaga.Config{})
	if err != nil {
		fail(err)
	}
	r, err := retry.New(retry.Config{MaxAttempts: 4, Backoff: retry.Exponential{Initial: 2 * time.Millisecond, Jitter: retry.FullJitter}, MaxDelay: 20 * time.Millisecond})
	if err != nil {
		fail(err)
	}
	do := func(ctx context.Context, _ *faultOrder, inv saga.Invocation) error { return apply(ctx, db, inv) }
	def := saga.Definition[faultOrder]{Name: "order", Steps: []saga.Step[faultOrder]{
		{Name: "reserve", Action: do, Compensate: do, Policy: r},
		{Name: "charge", Action: do, Compensate: do, Policy: r},
		{Name: "confirm", Kind: saga.Pivot, Action: do, Policy: r},
		{Name: "ship", Kind: saga.Retriable, Action: do, Policy: r},
	}}
	cfg := saga.Config{
		InstanceID:    os.Getenv(faultIDVar),
		LeaseDuration: 2 * time.Second, PollInterval: 200 * time.Millisecond,
		Backoff:  retry.Exponential{Initial: 5 * time.Millisecond, Jitter: retry.EqualJitter},
		MaxDelay: 50 * time.Millisecond,
		Logger:   slog.New(slog.DiscardHandler),
	}
	o, err := saga.New(def, store, cfg)
	if err != nil {
		fail(err)
	}
	g := bulwark.Start(ctx, o) // o.Run: takes over the sagas of killed instances
	ids := make(chan string)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				err := o.Execute(ctx, id, faultOrder{ID: id})
				if err != nil && !errors.Is(err, saga.ErrExists) && !errors.Is(err, saga.ErrCompensated) && !errors.Is(err, saga.ErrLeaseLost) {
					fmt.Fprintf(os.Stderr, "orchestrator %s: saga %s: %v\n", cfg.InstanceID, id, err)
				}
			}
		}()
	}
	for i := range faultSagas {
		ids <- fmt.Sprintf("order-%03d", i)
	}
	close(ids)
	wg.Wait()
	for {
		var unfinished int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM sagas WHERE status IN ('running', 'compensating')`).Scan(&unfinished)
		if err == nil && unfinished == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := g.Stop(ctx); err != nil {
		fail(err)
	}
	db.Close()
}

// TestSIGKILLedOrchestratorsSharingOneFile kills orchestrator processes
// sharing one SQLite file at random moments, two running at once part of
// the time, and checks that every saga ended completed or compensated
// with no effect taken twice.
func TestSIGKILLedOrchestratorsSharingOneFile(t *testing.T) {
	testenv.SkipUnderRace(t)
	ctx := context.Background()
	path := sqlitetest.Path(t)
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	newStore(t, db)
	_, err = db.ExecContext(ctx, serviceSchema)
	require.NoError(t, err)

	type child struct {
		cmd  *exec.Cmd
		done chan error
	}
	start := func(name string) *child {
		cmd := testenv.Command(t, "orchestrator", faultPathVar+"="+path, faultIDVar+"="+name)
		require.NoError(t, cmd.Start())
		c := &child{cmd: cmd, done: make(chan error, 1)}
		go func() { c.done <- cmd.Wait() }()
		return c
	}
	kill := func(c *child) {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.done
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	a, b := start("a0"), (*child)(nil)
	kills, midSaga := 0, 0
	for kills < 6 {
		time.Sleep(150*time.Millisecond + time.Duration(rng.Int64N(int64(500*time.Millisecond))))
		var created, unfinished int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE status IN ('running', 'compensating')) FROM sagas`).Scan(&created, &unfinished))
		if created == faultSagas && unfinished == 0 {
			break
		}
		kill(a)
		kills++
		if unfinished > 0 {
			midSaga++
		}
		switch kills {
		case 1:
			b = start("b0")
		case 4:
			kill(b)
			kills++
			b = nil
		}
		a = start("a" + strconv.Itoa(kills))
	}
	t.Logf("%d kills, %d with sagas in flight", kills, midSaga)
	require.GreaterOrEqual(t, midSaga, 2, "the kills came too late to test anything")
	for _, c := range []*child{a, b} {
		if c == nil {
			continue
		}
		select {
		case err := <-c.done:
			require.NoError(t, err)
		case <-time.After(3 * time.Minute):
			kill(c)
			t.Fatal("the sagas did not all end within 3 minutes")
		}
	}

	var twice, completed, compensated, repeats int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM effects GROUP BY saga, step, compensation HAVING count(*) > 1)`).Scan(&twice))
	assert.Zero(t, twice, "effects that happened twice")
	require.NoError(t, db.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM repeats`).Scan(&repeats))
	rows, err := db.QueryContext(ctx, `SELECT s.id, s.status,
	(SELECT count(*) FROM effects e WHERE e.saga = s.id AND e.compensation = 0 AND e.step IN ('confirm', 'ship')),
	(SELECT count(*) FROM effects e WHERE e.saga = s.id AND e.compensation = 0),
	(SELECT count(*) FROM effects e WHERE e.saga = s.id AND e.compensation = 0 AND e.step IN ('reserve', 'charge')
		AND NOT EXISTS (SELECT 1 FROM effects c WHERE c.saga = e.saga AND c.step = e.step AND c.compensation = 1))
FROM sagas s`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var id, status string
		var pastPivot, actions, notUndone int
		require.NoError(t, rows.Scan(&id, &status, &pastPivot, &actions, &notUndone))
		n++
		switch saga.Status(status) {
		case saga.Completed:
			completed++
			assert.False(t, declined(id), "%s completed despite a declined card", id)
			assert.Equal(t, 4, actions, "%s completed with %d of 4 steps done", id, actions)
		case saga.Compensated:
			compensated++
			assert.Zero(t, pastPivot, "%s compensated after its pivot took effect", id)
			assert.Zero(t, notUndone, "%s compensated with a step not undone", id)
		default:
			t.Errorf("saga %s ended %s", id, status)
		}
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, faultSagas, n)
	t.Logf("%d sagas: %d completed, %d compensated; no effect twice; %d repeated invocations deduplicated by key",
		n, completed, compensated, repeats)
}
