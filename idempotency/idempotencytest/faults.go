package idempotencytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memoryCounter counts in process memory, for stores without a database
// of their own to count in.
type memoryCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *memoryCounter) Incr(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[key]++
	return nil
}

func (c *memoryCounter) Get(_ context.Context, key string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key], nil
}

type response struct {
	status int
	charge string
	body   string
}

// testDuplicateRequests sends keys*perKey concurrent requests, perKey with
// each key, through bulwarkhttp's Idempotency middleware over h.Store. The
// handler runs exactly once per key (counted in the database when
// h.Counter is set), and every duplicate gets the first response byte for
// byte or 409.
func testDuplicateRequests(t *testing.T, h Harness, keys, perKey int) {
	t.Run("light", func(t *testing.T) { duplicateRequests(t, h, 5, 20) })
	t.Run("1000", func(t *testing.T) {
		testenv.SkipUnderRace(t)
		duplicateRequests(t, h, keys, perKey)
	})
}

func duplicateRequests(t *testing.T, h Harness, keys, perKey int) {
	counter := h.Counter
	if counter == nil {
		counter = NewMemoryCounter()
	}
	// Two servers share the store: duplicates on one wait for the first
	// response, on the other they get 409 at once.
	run := RandomName("run-")
	var urls [2]string
	for i, wait := range []time.Duration{300 * time.Millisecond, 0} {
		k, err := idempotency.New(h.Store, idempotency.Config{Wait: wait, PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		m, err := bulwarkhttp.NewIdempotency(k, bulwarkhttp.IdempotencyConfig{
			Required: true,
			Scope:    func(r *http.Request) string { return r.Header.Get("X-Client") },
		})
		require.NoError(t, err)
		srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get(bulwarkhttp.HeaderIdempotencyKey)
			if err := counter.Incr(r.Context(), key); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			time.Sleep(20 * time.Millisecond) // the charge takes a while, so duplicates overlap it
			var id [8]byte
			_, _ = rand.Read(id[:])
			w.Header().Set("X-Charge-Id", hex.EncodeToString(id[:]))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"charge":"%x","key":%q}`, id, key)
		})))
		defer srv.Close()
		urls[i] = srv.URL
	}
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	defer client.CloseIdleConnections()

	total := keys * perKey
	results := make([][]response, keys)
	for i := range results {
		results[i] = make([]response, perKey)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	var failures atomic.Int32
	for i := range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			key, n := i%keys, i/keys
			req, _ := http.NewRequest(http.MethodPost, urls[n%2]+"/charges", strings.NewReader(`{"amount":100}`))
			req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, fmt.Sprint(run, "key-", key))
			req.Header.Set("X-Client", "client-a")
			resp, err := client.Do(req)
			if err != nil {
				failures.Add(1)
				t.Errorf("request %d: %v", i, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[key][n] = response{resp.StatusCode, resp.Header.Get("X-Charge-Id"), string(body)}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	require.Zero(t, failures.Load())

	var firsts, replays, conflicts int
	for key := range keys {
		runs, err := counter.Get(ctx, fmt.Sprint(run, "key-", key))
		require.NoError(t, err)
		assert.Equal(t, 1, runs, "handler runs for key-%d", key)
		var first *response
		for n := range results[key] {
			r := &results[key][n]
			switch r.status {
			case http.StatusConflict:
				conflicts++
				continue
			case http.StatusCreated:
			default:
				t.Errorf("key-%d: status %d: %s", key, r.status, r.body)
				continue
			}
			if first == nil {
				first = r
				firsts++
				continue
			}
			replays++
			assert.Equal(t, *first, *r, "key-%d: a duplicate got a different response", key)
		}
		require.NotNil(t, first, "key-%d: no request got a response", key)
	}
	t.Logf("%d concurrent requests over %d keys in %v: handler ran once per key (%d runs counted), %d identical replays, %d got 409",
		total, keys, time.Since(began).Round(time.Millisecond), firsts, replays, conflicts)
}

// The environment of a KilledHolder child process.
const (
	childKeyVar = "BULWARK_IDEMPOTENCY_KEY"
	// ChildLease is the lease of the child's claim.
	ChildLease = 2 * time.Second
)

func holderRequest(key string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/charges", strings.NewReader(`{"amount":100}`))
	req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
	return req
}

// chargeHandler charges (counts) once per key: a takeover that finds the
// "charged" recovery point skips the charge.
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

// HolderChild is the body of the child process that KilledHolder starts
// and kills: it takes the request's key through the middleware over s,
// charges (counter.Incr), saves the "charged" recovery point, prints
// "holding" and hangs until killed.
func HolderChild(s idempotency.Store, counter Counter) {
	m := holderMiddleware(&childTB{}, s, nil)
	m.Handler(chargeHandler(counter, true)).ServeHTTP(httptest.NewRecorder(), holderRequest(os.Getenv(childKeyVar)))
}

// KilledHolder starts child (the driver's test binary re-run by
// ChildCommand as a child that calls HolderChild over the same database as
// s), waits until it holds a key mid-request, kills it with SIGKILL, and checks that retries get 409 while the lease lasts,
// and after it run to completion once, resuming from the recovery point
// (the charge counted once), and are replayed from then on.
func KilledHolder(t *testing.T, s idempotency.Store, counter Counter, child *exec.Cmd) {
	key := RandomName("killed-")
	child.Env = append(child.Env, childKeyVar+"="+key)
	claimedBy := killWhenHolding(t, child, "the key")

	// The parent's clock starts where the child's was and moves by hand.
	fake := clocktest.New(claimedBy)
	h := holderMiddleware(t, s, fake).Handler(chargeHandler(counter, false))
	send := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, holderRequest(key))
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
	charges, err := counter.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, 1, charges, "the recovery point kept the takeover from charging again")
	t.Logf("holder killed mid-request; 1 retry got 409 during the lease, the takeover ran as attempt 2 and completed, 1 replay; %d charge counted", charges)
}

// killWhenHolding starts child, waits until it prints "holding" (it holds
// what, mid-transaction or mid-request), kills it with SIGKILL and returns
// the time it was seen holding. A child still running when the test fails
// before the kill is killed too.
func killWhenHolding(t *testing.T, child *exec.Cmd, what string) time.Time {
	t.Helper()
	child.Stdout = nil
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

// childTB stands in for testing.TB in a child process: a failure exits.
type childTB struct{ testing.TB }

func (childTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(3)
}

// NewMemoryCounter returns a Counter in process memory.
func NewMemoryCounter() Counter { return &memoryCounter{n: map[string]int{}} }

// Main is the TestMain of a driver that runs KilledHolder or
// KilledInboxConsumer: in a child process started by ChildCommand it runs
// the child function of that name and exits; otherwise it runs the tests
// and exits with their status. The one line a driver adds:
//
//	func TestMain(m *testing.M) {
//		idempotencytest.Main(m, map[string]func(){
//			"holder": func() { idempotencytest.HolderChild(openStoreFromEnv()) },
//		})
//	}
func Main(m *testing.M, children map[string]func()) { testenv.Main(m, children) }

// ChildCommand returns a command that re-runs the test binary as the child
// named name (see Main), with the extra environment env ("KEY=value", say
// the database the child must open). Pass it to KilledHolder or
// KilledInboxConsumer, which start, kill and wait for it.
func ChildCommand(t testing.TB, name string, env ...string) *exec.Cmd {
	return testenv.Command(t, name, env...)
}
