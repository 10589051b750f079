package idempotencytest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The killed-process suites, RunKilledHolder and RunKilledInboxConsumer,
// start the driver's own test binary again as a child process, let it take
// a key (or a message's transaction) and kill it there with SIGKILL. The
// driver's TestMain makes the child: it calls MainKilledHolder and
// MainKilledInboxConsumer first, each of which returns at once unless this
// process is its child.

// The environment that makes a test binary a child of a killed-process
// suite. Its value is the key the holder takes, or the message the
// consumer handles.
const (
	holderVar        = "BULWARK_IDEMPOTENCYTEST_KILLED_HOLDER"
	inboxConsumerVar = "BULWARK_IDEMPOTENCYTEST_KILLED_INBOX_CONSUMER"
)

// ChildLease is the lease the killed holder's claim has.
const ChildLease = 2 * time.Second

// KilledHolderHarness is a driver's part in RunKilledHolder: a store on a
// database that a child process opens too, and a counter kept there.
type KilledHolderHarness struct {
	// Store is the store the test retries on, on the database the child
	// holds a key in. Required.
	Store idempotency.Store
	// Counter counts charges in the same database, so that the child's
	// charge is seen by the parent. Required.
	Counter Counter
	// ChildEnv is the environment ("KEY=value") from which the driver's
	// open function, given to MainKilledHolder, finds the same database in
	// the child process.
	ChildEnv []string
}

// MainKilledHolder is the child entry point of RunKilledHolder. A driver's
// TestMain calls it first:
//
//	func TestMain(m *testing.M) {
//		idempotencytest.MainKilledHolder(openHolder) // returns unless this process is a killed holder
//		os.Exit(m.Run())
//	}
//
// In a process started by RunKilledHolder it opens the store and counter
// with open (which finds the database in the environment
// KilledHolderHarness.ChildEnv set), takes the test's key through
// bulwarkhttp's Idempotency middleware, charges (Counter.Incr), saves the
// "charged" recovery point, and hangs until it is killed; it exits with
// status 1 when anything fails on the way. In any other process it returns
// at once.
func MainKilledHolder(open func(ctx context.Context) (idempotency.Store, Counter, error)) {
	key := os.Getenv(holderVar)
	if key == "" {
		return
	}
	s, counter, err := open(context.Background())
	if err != nil {
		childFail("opening the store:", err)
	}
	rec := httptest.NewRecorder()
	holderMiddleware(childTB{}, s, nil).Handler(chargeHandler(counter, true)).ServeHTTP(rec, holderRequest(key))
	childFail("the request ended instead of holding the key:", rec.Code, rec.Body.String()) // it hangs when it holds the key
}

// RunKilledHolder runs the killed-holder test on the harness newHarness
// returns (called once): a child process (the test binary, run again; see
// MainKilledHolder) takes a key mid-request, charges and saves a recovery
// point, and is killed with SIGKILL. Retries then get 409 while the dead
// holder's lease lasts; after it, one retry takes the key over as attempt
// 2, resumes from the recovery point (the charge is counted once) and
// completes; later retries get its response replayed. The test is heavy,
// so it skips itself under the race detector.
func RunKilledHolder(t *testing.T, newHarness func(t *testing.T) KilledHolderHarness) {
	t.Helper()
	testenv.SkipUnderRace(t)
	h := newHarness(t)
	require.NotNil(t, h.Store, "KilledHolderHarness.Store")
	require.NotNil(t, h.Counter, "KilledHolderHarness.Counter")
	key := RandomName("killed-")
	claimedBy := killWhenHolding(t, childCommand(t, h.ChildEnv, holderVar+"="+key), "the key")

	// The parent's clock starts where the child's was and moves by hand.
	fake := clocktest.New(claimedBy)
	handler := holderMiddleware(t, h.Store, fake).Handler(chargeHandler(h.Counter, false))
	send := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, holderRequest(key))
		return rec
	}
	rec := send()
	assert.Equal(t, http.StatusConflict, rec.Code, "while the dead holder's lease lasts: %s", rec.Body)
	fake.Advance(ChildLease + time.Millisecond)
	rec = send()
	require.Equal(t, http.StatusCreated, rec.Code, "after the lease a retry runs: %s", rec.Body)
	assert.Equal(t, "charged once, attempt 2", rec.Body.String())
	assert.Empty(t, rec.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
	again := send()
	assert.Equal(t, http.StatusCreated, again.Code)
	assert.Equal(t, "true", again.Header().Get(bulwarkhttp.HeaderIdempotentReplayed))
	assert.True(t, bytes.Equal(rec.Body.Bytes(), again.Body.Bytes()))
	charges, err := h.Counter.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, 1, charges, "the recovery point kept the takeover from charging again")
	t.Logf("holder killed mid-request; 1 retry got 409 during the lease, the takeover ran as attempt 2 and completed, 1 replay; %d charge counted", charges)
}

func holderRequest(key string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(`{"amount":100}`))
	req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
	return req
}

// chargeHandler charges (counts) once per key: a takeover that finds the
// "charged" recovery point skips the charge. With hang, it prints
// "holding" once it charged and never returns.
func chargeHandler(counter Counter, hang bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		att := idempotency.AttemptFrom(r.Context())
		key := r.Header.Get(bulwarkhttp.HeaderIdempotencyKey)
		if string(att.RecoveryPoint()) != "charged" {
			if err := counter.Incr(r.Context(), key); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if err := att.Checkpoint(r.Context(), []byte("charged")); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		if hang {
			os.Stdout.WriteString("holding\n")
			select {} // killed here
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "charged once, attempt %d", att.Number())
	})
}

func holderMiddleware(t testing.TB, s idempotency.Store, c *clocktest.Fake) *bulwarkhttp.Idempotency {
	cfg := idempotency.Config{Lease: ChildLease}
	if c != nil {
		cfg.Clock = c
	}
	k, err := idempotency.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The consumer and message of the killed inbox consumer.
const (
	inboxChildConsumer = "billing"
	inboxChildMessage  = "m-1"
)

// KilledInboxHarness is a driver's part in RunKilledInboxConsumer: an
// inbox harness (as RunInbox takes) on a database that a child process
// opens too.
type KilledInboxHarness[Tx any] struct {
	// Inbox makes inboxes over an empty store and effects table of the
	// test's own, both created. Its fields are required.
	Inbox InboxHarness[Tx]
	// ChildEnv is the environment ("KEY=value") from which the driver's
	// open function, given to MainKilledInboxConsumer, finds the same
	// database in the child process.
	ChildEnv []string
}

// MainKilledInboxConsumer is the child entry point of
// RunKilledInboxConsumer. A driver's TestMain calls it first:
//
//	func TestMain(m *testing.M) {
//		idempotencytest.MainKilledInboxConsumer(openInbox) // returns unless this process is a killed consumer
//		os.Exit(m.Run())
//	}
//
// In a process started by RunKilledInboxConsumer it opens the inbox
// harness with open (which finds the database in the environment
// KilledInboxHarness.ChildEnv set), handles the test's message through an
// inbox of it, writes the message's effect inside the transaction, and
// hangs there until it is killed; it exits with status 1 when anything
// fails on the way. In any other process it returns at once.
func MainKilledInboxConsumer[Tx any](open func(ctx context.Context) (InboxHarness[Tx], error)) {
	messageID := os.Getenv(inboxConsumerVar)
	if messageID == "" {
		return
	}
	h, err := open(context.Background())
	if err != nil {
		childFail("opening the inbox:", err)
	}
	in, err := h.NewInbox(InboxSettings{Consumer: inboxChildConsumer, Retention: time.Hour})
	if err != nil {
		childFail("making the inbox:", err)
	}
	ran, err := in.Process(context.Background(), messageID, func(ctx context.Context, tx Tx) error {
		if err := h.Effect(ctx, tx, messageID); err != nil {
			return err
		}
		os.Stdout.WriteString("holding\n")
		select {} // killed here
	})
	childFail("the message's transaction ended instead of holding: ran", ran, "error", err)
}

// RunKilledInboxConsumer runs the killed-consumer test on the harness
// newHarness returns (called once): a child process (the test binary, run
// again; see MainKilledInboxConsumer) handles a message, writes its effect
// in the inbox's transaction and is killed there with SIGKILL. The dead
// consumer's write must roll back with its record of the message: the
// redelivery runs once, leaving one effect, and the next is skipped. The
// test is heavy, so it skips itself under the race detector.
func RunKilledInboxConsumer[Tx any](t *testing.T, newHarness func(t *testing.T) KilledInboxHarness[Tx]) {
	t.Helper()
	testenv.SkipUnderRace(t)
	k := newHarness(t)
	h := k.Inbox
	require.NotNil(t, h.NewInbox, "KilledInboxHarness.Inbox.NewInbox")
	require.NotNil(t, h.Effect, "KilledInboxHarness.Inbox.Effect")
	require.NotNil(t, h.Effects, "KilledInboxHarness.Inbox.Effects")
	killWhenHolding(t, childCommand(t, k.ChildEnv, inboxConsumerVar+"="+inboxChildMessage), "the message")
	in, err := h.NewInbox(InboxSettings{Consumer: inboxChildConsumer, Retention: time.Hour})
	require.NoError(t, err)
	// The killed process's transaction never committed: the database drops
	// it (PostgreSQL when it notices the dead connection, SQLite's journal
	// when the next writer takes the lock); until then the redelivery waits.
	ran, err := in.Process(ctx, inboxChildMessage, effect(h, inboxChildMessage))
	require.NoError(t, err)
	assert.True(t, ran, "the killed consumer's record was rolled back with its write")
	assert.Equal(t, 1, h.Effects(t, inboxChildMessage))
	ran, err = in.Process(ctx, inboxChildMessage, effect(h, inboxChildMessage))
	require.NoError(t, err)
	assert.False(t, ran)
	t.Logf("consumer killed mid-transaction: its write and record rolled back; the redelivery ran once (1 effect), the next was skipped")
}

// childCommand returns a command that runs this test binary again, no
// test selected, with the extra environment env and the driver's
// childEnv: a child that MainKilledHolder or MainKilledInboxConsumer
// takes over. Its output goes to the test's stderr.
func childCommand(t *testing.T, childEnv []string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv...), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// killWhenHolding starts child, waits until it prints "holding" (it holds
// what, mid-transaction or mid-request), kills it with SIGKILL and returns
// the time it was seen holding. A child still running when the test fails
// before the kill is killed too.
func killWhenHolding(t *testing.T, child *exec.Cmd, what string) time.Time {
	t.Helper()
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	killed := false
	defer func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the child exited before holding %s", what)
	require.Equal(t, "holding\n", line)
	held := time.Now()
	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	killed = true
	return held
}

// childFail reports why a child process stopped, on stderr (which the
// parent test shows), and exits with status 1.
func childFail(args ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"idempotencytest child:"}, args...)...)
	os.Exit(1)
}

// childTB stands in for testing.TB in a child process: a failure exits.
type childTB struct{ testing.TB }

func (childTB) Fatal(args ...any) { childFail(args...) }
