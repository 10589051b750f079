package eventsourcetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The crash test (RunCrash): a writer process appends batches and is killed
// with SIGKILL mid-append; the history it acknowledged must be there whole,
// the batch in flight must be there whole or not at all, and a restarted
// writer re-sending that batch (same event IDs, same expected version) must
// end up with it stored exactly once.

// CrashHarness is a driver's part in the crash test: a store on a database
// that child processes can open too.
type CrashHarness struct {
	// Store is the store, on the database the children append to.
	Store eventsource.Store
	// ChildEnv is the environment ("KEY=value") from which the driver's
	// open function, given to MainCrashWriter, finds the same database in
	// a child process.
	ChildEnv []string
	// MaxKillDelay bounds the random time a writer runs once it has
	// acknowledged some batches, before it is killed; 0 means 5ms.
	MaxKillDelay time.Duration
}

// crashVar is the environment variable that makes a test binary a crash
// writer (MainCrashWriter) appending to the stream it names.
const crashVar = "BULWARK_EVENTSOURCETEST_CRASH_RUN"

// MainCrashWriter is the child entry point of RunCrash. A driver's TestMain
// calls it first:
//
//	func TestMain(m *testing.M) {
//		eventsourcetest.MainCrashWriter(openStore) // returns unless this process is a crash writer
//		os.Exit(m.Run())
//	}
//
// In a process started by RunCrash it opens the store with open (which
// finds the database in the environment CrashHarness.ChildEnv set),
// appends batches until it is killed, and exits; in any other process it
// returns at once.
func MainCrashWriter(open func(ctx context.Context) (eventsource.Store, error)) {
	run := os.Getenv(crashVar)
	if run == "" {
		return
	}
	ctx := context.Background()
	s, err := open(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventsourcetest crash writer:", err)
		os.Exit(1)
	}
	err = crashWriter(ctx, s, run, os.Stdout) // returns when an append fails
	fmt.Fprintln(os.Stderr, "eventsourcetest crash writer:", err)
	os.Exit(1)
}

// RunCrash runs the crash test: six times, it starts this test binary as a
// child writer (see MainCrashWriter, which the driver's TestMain must
// call), kills it with SIGKILL after a random number of acknowledged
// batches and a random delay, and checks the stream it wrote. newHarness is
// called once.
func RunCrash(t *testing.T, newHarness func(t *testing.T) CrashHarness) {
	h := newHarness(t)
	require.NotNil(t, h.Store, "CrashHarness.Store")
	delay := h.MaxKillDelay
	if delay <= 0 {
		delay = 5 * time.Millisecond
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	run := fmt.Sprintf("crash-%x", rng.Uint32())
	for round := range 6 {
		stream := fmt.Sprintf("%s-writer-%d", run, round)
		exe, err := os.Executable()
		require.NoError(t, err)
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(append(os.Environ(), h.ChildEnv...), crashVar+"="+stream)
		cmd.Stderr = os.Stderr
		out := killAfter(t, cmd, 10+rng.IntN(20), time.Duration(rng.Int64N(int64(delay))))
		verifyCrash(t, h.Store, stream, out)
	}
}

var crashSpace = uuid.MustParse("6f0c2b8e-3f3a-4b7e-9a53-8a7f1e2d4c10")

// crashBatch returns batch i (from 0) of the crash test named run: 1 to 5
// events whose IDs derive from run and i, so that a restarted writer knows
// the IDs of the batch it may or may not have stored.
func crashBatch(run string, i int) []eventsource.EventData {
	out := make([]eventsource.EventData, 1+i%5)
	for j := range out {
		out[j] = eventsource.EventData{
			ID:            uuid.NewSHA1(crashSpace, []byte(fmt.Sprintf("%s/%d/%d", run, i, j))),
			Type:          "crash.step",
			SchemaVersion: 1,
			Data:          []byte(fmt.Sprintf(`{"batch":%d,"event":%d}`, i, j)),
		}
	}
	return out
}

// crashWriter appends crashBatch(run, 0), crashBatch(run, 1)… to the
// stream run, each expecting the version the previous one left, and writes
// "acked <batch> <version>" to w after each append returns, until an append
// (or the write) fails, whose error it returns. It is killed before that.
func crashWriter(ctx context.Context, s eventsource.Store, run string, w io.Writer) error {
	version := int64(0)
	for i := 0; ; i++ {
		res, err := s.Append(ctx, run, eventsource.ExpectedVersion(version), crashBatch(run, i)...)
		if err != nil {
			return err
		}
		version = res.StreamVersion
		if _, err := fmt.Fprintf(w, "acked %d %d\n", i, version); err != nil {
			return err
		}
	}
}

// verifyCrash checks the store after a crashWriter of run was killed, given
// what the writer printed: every acknowledged batch is stored, whole, in
// order; beyond them there is at most the next batch, whole; re-sending that
// batch stores it exactly once. It logs what it verified.
func verifyCrash(t *testing.T, s eventsource.Store, run, output string) {
	t.Helper()
	acked := -1
	var version int64
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		var i int
		var v int64
		if _, err := fmt.Sscanf(sc.Text(), "acked %d %d", &i, &v); err != nil {
			continue // a line cut by the kill
		}
		require.Equal(t, acked+1, i, "acknowledgements in order")
		acked, version = i, v
	}
	require.GreaterOrEqual(t, acked, 0, "the writer acknowledged nothing before it was killed")

	var want []uuid.UUID
	for i := 0; i <= acked; i++ {
		want = append(want, dataIDs(crashBatch(run, i))...)
	}
	inDoubt := crashBatch(run, acked+1)
	stored := ids(readStream(t, s, run, 1))
	require.GreaterOrEqual(t, len(stored), len(want), "acknowledged events are missing")
	assert.Equal(t, want, stored[:len(want)], "the acknowledged history, whole and in order")
	extra := stored[len(want):]
	committed := len(extra) > 0
	if committed {
		assert.Equal(t, dataIDs(inDoubt), extra, "the batch in flight is stored whole or not at all")
	}

	res, err := s.Append(context.Background(), run, eventsource.ExpectedVersion(version), inDoubt...)
	require.NoError(t, err, "re-sending the batch in flight")
	assert.Equal(t, version+int64(len(inDoubt)), res.StreamVersion)
	final := readStream(t, s, run, 1)
	assert.Equal(t, append(want, dataIDs(inDoubt)...), ids(final), "the batch in flight is stored exactly once")
	for i, e := range final {
		require.Equal(t, int64(i+1), e.StreamVersion)
	}
	t.Logf("writer killed after %d acknowledged batches (%d events); the batch in flight had committed: %v; after re-sending it the stream has %d events",
		acked+1, len(want), committed, len(final))
}

// killAfter starts cmd, a child process running crashWriter, lets it
// acknowledge n batches, waits delay (a random moment of its next appends)
// and kills it with SIGKILL. It returns everything the writer printed, for
// verifyCrash. cmd's Stdout must be unset.
func killAfter(t *testing.T, cmd *exec.Cmd, n int, delay time.Duration) string {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for acked := 0; acked < n && sc.Scan(); acked++ {
		out.WriteString(sc.Text() + "\n")
	}
	time.Sleep(delay)
	require.NoError(t, cmd.Process.Kill())
	// Read the rest through the same scanner: it may already hold lines
	// beyond the first n, which reading the pipe directly would lose.
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	_ = cmd.Wait()
	return out.String()
}
