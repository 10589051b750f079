package cqrstest

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The crash test of the SQL drivers (RunCrash) holds a Projector to its
// promises when processes die for real. Two projector processes run one
// projection while four writers append events; the process holding the
// lease is killed with SIGKILL six times, soon after it took over (while
// it catches up, often in the middle of a batch), and a new one started
// each time. Once the writers have stopped and a survivor has caught up
// with the log, the test proves that:
//
//   - every stored event is in the read model exactly once: none skipped,
//     none applied twice, although killed processes left batches half done
//     (their read model rows and checkpoint roll back together);
//   - every append the writers saw succeed is stored;
//   - no two processes ever ran the projection at the same time: each
//     child logs every handler call, committed or not, to a file of its
//     own (callLog), and in time order the calls of all the children form
//     one run per child (verifyCalls).
//
// The kills land at random moments: they find a window as long as a batch
// (read model writes outside the checkpoint's transaction), seldom one of
// microseconds (two commits in a row).
//
// A driver's test calls RunCrash with a CrashHarness (its stores, how to
// read its tables, how a child finds the database); the children are the
// driver's own test binary, whose TestMain calls MainCrashChild first.

// The crash test's shape and pace. What depends on the driver is in
// CrashHarness (KillDelay) and CrashChild (PollInterval, HandleDelay).
const (
	crashProjection = "applied" // the projection the children run
	crashWriters    = 4
	crashStreams    = 50 // the writers append to streams chosen among these
	crashKills      = 6
	crashCatchUp    = 2 * time.Minute // how long the last holder may take to catch up
	// The environment a child gets beside CrashHarness.ChildEnv: its
	// instance ID (which makes it a child, see MainCrashChild) and the path
	// of its call log.
	crashIDVar    = "BULWARK_CQRSTEST_CRASH_ID"
	crashCallsVar = "BULWARK_CQRSTEST_CRASH_CALLS"
)

// CrashHarness is a SQL driver's part in the crash test: a database holding
// an event store, a checkpoint store and the read model, a table of
// (position, owner) rows, one per event applied (CrashChild.Apply), all
// created and empty.
type CrashHarness[Tx any] struct {
	// Events is the event store the writers append to and the children
	// project from.
	Events interface {
		eventsource.Store
		eventsource.HeadReader
	}
	// Checkpoints is the checkpoint store the children keep the
	// projection's checkpoint in; the test reads its lease holder and
	// position with List.
	Checkpoints cqrs.Store[Tx]
	// Stored returns the global position of every stored event, read from
	// the database directly: not through Events, whose reads the
	// projectors rely on.
	Stored func(ctx context.Context) ([]int64, error)
	// Applied returns the read model's rows.
	Applied func(ctx context.Context) ([]CrashRow, error)
	// ChildEnv is the environment ("KEY=value") from which the open
	// function a child gives MainCrashChild finds the database.
	ChildEnv []string
	// KillDelay bounds the random time a holder runs once the test has
	// seen it hold the lease: short enough that it dies catching up.
	KillDelay time.Duration
}

// CrashRow is a row of the crash test's read model: the event at Position
// was applied by the child projector Owner.
type CrashRow struct {
	Position int64
	Owner    string
}

// RunCrash runs the crash test (described above) on the database of the
// harness newHarness returns (called once) and logs what it counted. Its
// children are this test binary, started again: the driver's TestMain
// must call MainCrashChild first. It is heavy, so it skips itself under the
// race detector.
func RunCrash[Tx any](t *testing.T, newHarness func(t *testing.T) CrashHarness[Tx]) {
	t.Helper()
	testenv.SkipUnderRace(t)
	c := newHarness(t)
	require.NotNil(t, c.Events, "CrashHarness.Events")
	require.NotNil(t, c.Checkpoints, "CrashHarness.Checkpoints")
	require.NotNil(t, c.Stored, "CrashHarness.Stored")
	require.NotNil(t, c.Applied, "CrashHarness.Applied")
	require.Positive(t, c.KillDelay, "CrashHarness.KillDelay")
	ctx := context.Background()
	children := newCrashChildren(t, c.ChildEnv)
	children.start()
	children.start()
	stopWriters := startCrashWriters(t, c.Events)

	// Kill each holder soon after it took over (while it catches up): each
	// round waits for another process to take the lease over.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	for kills := 0; kills < crashKills; {
		cp, err := crashCheckpoint(ctx, c.Checkpoints)
		require.NoError(t, err)
		if !children.running(cp.Owner) {
			time.Sleep(20 * time.Millisecond) // not claimed yet, or its holder is dead
			continue
		}
		time.Sleep(time.Duration(rng.Int64N(int64(c.KillDelay))))
		children.kill(cp.Owner)
		kills++
		children.start()
	}
	appended := stopWriters()

	head, err := c.Events.HeadPosition(ctx)
	require.NoError(t, err)
	deadline := time.Now().Add(crashCatchUp)
	for {
		cp, err := crashCheckpoint(ctx, c.Checkpoints)
		require.NoError(t, err)
		if cp.Position == head {
			break
		}
		require.True(t, time.Now().Before(deadline), "the projection is stuck at %d of %d", cp.Position, head)
		time.Sleep(100 * time.Millisecond)
	}
	children.killAll()

	stored, err := c.Stored(ctx)
	require.NoError(t, err)
	rows, err := c.Applied(ctx)
	require.NoError(t, err)
	applied := map[int64]int{} // position → rows
	holders := map[string]bool{}
	for _, r := range rows {
		applied[r.Position]++
		holders[r.Owner] = true
	}
	var missing, twice []int64
	for _, p := range stored {
		if applied[p] == 0 {
			missing = append(missing, p)
		}
	}
	for p, n := range applied {
		if n > 1 {
			twice = append(twice, p)
		}
	}
	assert.Equal(t, len(stored), len(applied), "every event applied")
	assert.Zero(t, len(missing), "no event skipped; skipped: %v", lowest(missing))
	assert.Equal(t, len(stored), len(rows), "no event applied twice; applied twice: %v", lowest(twice))
	assert.Equal(t, int64(len(stored)), appended, "every acknowledged append stored")
	calls := verifyCalls(t, children.logs)
	t.Logf("%d events appended by %d writers while %d holders were SIGKILLed; %d processes applied events; %d rows, one per event; %d handler calls (%d rolled back by kills)",
		len(stored), crashWriters, crashKills, len(holders), len(rows), calls, calls-len(rows))
}

// lowest returns the ten lowest positions of ps (sorting ps), for failure
// messages.
func lowest(ps []int64) []int64 {
	slices.Sort(ps)
	return ps[:min(len(ps), 10)]
}

// crashCheckpoint returns the checkpoint of the crash test's projection,
// the zero Checkpoint while it has none.
func crashCheckpoint[Tx any](ctx context.Context, s cqrs.Store[Tx]) (cqrs.Checkpoint, error) {
	cps, err := s.List(ctx)
	if err != nil {
		return cqrs.Checkpoint{}, err
	}
	for _, cp := range cps {
		if cp.Name == crashProjection {
			return cp, nil
		}
	}
	return cqrs.Checkpoint{}, nil
}

// startCrashWriters starts the writers: each appends a batch of 1 to 4
// events to a random stream every 0 to 20ms, so that each new holder has a
// backlog to catch up with when it is killed in turn. stop stops them and
// returns how many events they appended.
func startCrashWriters(t *testing.T, events eventsource.Store) (stop func() int64) {
	ctx := context.Background()
	done := make(chan struct{})
	var appended atomic.Int64
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				select {
				case <-done:
					return
				case <-time.After(time.Duration(rng.IntN(20000)) * time.Microsecond):
				}
				batch := make([]eventsource.EventData, 1+rng.IntN(4))
				for i := range batch {
					batch[i] = eventsource.EventData{ID: uuid.New(), Type: "e", SchemaVersion: 1, Data: []byte(`{}`)}
				}
				if _, err := events.Append(ctx, fmt.Sprint("stream-", rng.IntN(crashStreams)), eventsource.Any, batch...); err != nil {
					t.Errorf("appending: %v", err)
					return
				}
				appended.Add(int64(len(batch)))
			}
		}()
	}
	return func() int64 {
		close(done)
		wg.Wait()
		return appended.Load()
	}
}

// crashChildren are the child projectors of a crash test: the running ones
// by instance ID, and the call log of every one started. The test's
// cleanup kills those still running.
type crashChildren struct {
	t       *testing.T
	env     []string // CrashHarness.ChildEnv
	dir     string   // where the call logs are
	started int
	alive   map[string]*crashChild
	logs    map[string]string // instance ID → call log path
}

type crashChild struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
}

func newCrashChildren(t *testing.T, env []string) *crashChildren {
	c := &crashChildren{t: t, env: env, dir: t.TempDir(), alive: map[string]*crashChild{}, logs: map[string]string{}}
	t.Cleanup(c.killAll)
	return c
}

// start starts another child: projector-1, projector-2…
func (c *crashChildren) start() {
	c.started++
	id := fmt.Sprint("projector-", c.started)
	c.logs[id] = filepath.Join(c.dir, id+".calls")
	exe, err := os.Executable()
	require.NoError(c.t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = slices.Concat(os.Environ(), c.env, []string{crashIDVar + "=" + id, crashCallsVar + "=" + c.logs[id]})
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	require.NoError(c.t, cmd.Start())
	child := &crashChild{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(child.done) }()
	c.alive[id] = child
}

// running reports whether the child id is running ("" is no child).
func (c *crashChildren) running(id string) bool { return c.alive[id] != nil }

// kill kills the running child id with SIGKILL and waits until it has exited.
func (c *crashChildren) kill(id string) {
	child := c.alive[id]
	_ = child.cmd.Process.Kill()
	<-child.done
	delete(c.alive, id)
}

func (c *crashChildren) killAll() {
	for id := range c.alive {
		c.kill(id)
	}
}

type call struct {
	at       int64
	owner    string
	position int64
}

// verifyCalls reads the call logs (owner → file path) and checks that the
// owners' calls, in time order, form one run per owner: once another
// process has called the handler, the previous one never calls it again.
// It returns how many calls it read (a line cut by a kill is ignored).
func verifyCalls(t *testing.T, logs map[string]string) int {
	t.Helper()
	var calls []call
	for owner, path := range logs {
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue // the process never ran the projection
		}
		require.NoError(t, err)
		calls = append(calls, readCalls(t, f, owner)...)
		f.Close()
	}
	slices.SortFunc(calls, func(a, b call) int { return cmp.Compare(a.at, b.at) })
	done := map[string]bool{}
	for i, c := range calls {
		if i > 0 && calls[i-1].owner != c.owner {
			done[calls[i-1].owner] = true
			require.False(t, done[c.owner], "%s called the handler (position %d) after %s had taken over (position %d): two projectors ran at once",
				c.owner, c.position, calls[i-1].owner, calls[i-1].position)
		}
	}
	return len(calls)
}

func readCalls(t *testing.T, r io.Reader, owner string) []call {
	var out []call
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var c call
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &c.at, &c.position); err != nil || strings.Count(sc.Text(), " ") != 1 {
			continue
		}
		c.owner = owner
		out = append(out, c)
	}
	require.NoError(t, sc.Err())
	return out
}
