package natsconsume_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"consumer": runConsumer})
}

// The fault test's child: a consume.Consumer on natsconsume (FAULT_NATS,
// FAULT_STREAM, FAULT_DURABLE) whose handler appends "id key attempt pid"
// to FAULT_LOG, synced, before the message is acknowledged; run until
// killed.
// Every 13th message fails its first run (retried in place).
func runConsumer() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "consumer child:", err)
		os.Exit(1)
	}
	nc, err := nats.Connect(os.Getenv("FAULT_NATS"), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		fail(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		fail(err)
	}
	src, err := natsconsume.New(js, natsconsume.Config{Stream: os.Getenv("FAULT_STREAM"), Durable: os.Getenv("FAULT_DURABLE"),
		AckWait: time.Second})
	if err != nil {
		fail(err)
	}
	log, err := os.OpenFile(os.Getenv("FAULT_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_SYNC, 0o600)
	if err != nil {
		fail(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	h := consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		mu.Lock()
		runs[m.ID]++
		first := runs[m.ID] == 1
		mu.Unlock()
		if n, _ := strconv.Atoi(strings.TrimPrefix(m.ID, "m")); n%13 == 0 && first {
			return fmt.Errorf("a blip on %s", m.ID)
		}
		time.Sleep(5 * time.Millisecond)
		_, err := fmt.Fprintf(log, "%s %s %d %d\n", m.ID, m.Key, m.Attempt, os.Getpid())
		return err
	})
	c, err := consume.New(src, h, consume.Config{Concurrency: 8, ExtendEvery: 300 * time.Millisecond,
		InPlaceBackoff: retry.Constant{Delay: time.Millisecond}, MaxAttempts: consume.Unlimited})
	if err != nil {
		fail(err)
	}
	if err := c.Run(context.Background()); err != nil {
		fail(err)
	}
}

// TestKilledConsumerLosesNothingAndKeepsKeyOrder publishes 6,000 messages
// over 40 keys and has them consumed by a process that is killed with
// SIGKILL six times, at random moments, and started again on the same
// durable (AckWait 1s, resuming in order). Every message is handled; each
// key's messages are handled for the first time in publish order; at the
// end the durable has nothing pending and nothing unacknowledged. Messages
// are handled again only around a kill (at least once, not exactly once:
// an inbox in the handler's transaction makes the effects exactly once).
func TestKilledConsumerLosesNothingAndKeepsKeyOrder(t *testing.T) {
	testenv.SkipUnderRace(t)
	const messages, keys, kills = 6000, 40, 6
	url := natstest.Server(t)
	_, js := natstest.Connect(t, url)
	st, name := natstest.Stream(t, js, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range messages {
		msg, err := natsconsume.Encode(consume.Message{ID: fmt.Sprintf("m%04d", i), Key: fmt.Sprint("k", i%keys), Topic: name + ".orders"})
		require.NoError(t, err)
		_, err = js.PublishMsgAsync(msg)
		require.NoError(t, err)
		// In rounds of 500: more outstanding than the client allows (4,000)
		// stall it, and on a busy machine the stall ends in an error.
		if (i+1)%500 == 0 || i == messages-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				t.Fatal("publishing did not complete")
			}
		}
	}
	logPath := filepath.Join(t.TempDir(), "handled")
	start := func() *os.Process {
		cmd := testenv.Command(t, "consumer", "FAULT_NATS="+url, "FAULT_STREAM="+name, "FAULT_DURABLE=billing", "FAULT_LOG="+logPath)
		require.NoError(t, cmd.Start())
		return cmd.Process
	}
	for i := range kills {
		p := start()
		// A restarted child first waits out the killed one's leases
		// (AckWait 1s and a tenth), then works for a while.
		time.Sleep(time.Duration(1300+rand.IntN(700)) * time.Millisecond)
		require.NoError(t, p.Signal(syscall.SIGKILL))
		_, _ = p.Wait()
		t.Logf("kill %d: %d messages handled so far", i+1, len(handled(t, logPath)))
	}
	last := start()
	defer func() { _ = last.Signal(syscall.SIGKILL); _, _ = last.Wait() }()
	cons, err := st.Consumer(ctx, "billing")
	require.NoError(t, err)
	for {
		info, err := cons.Info(ctx)
		require.NoError(t, err)
		if info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == messages {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not done: %d pending, %d unacknowledged, %d handled", info.NumPending, info.NumAckPending, len(handled(t, logPath)))
		}
		time.Sleep(100 * time.Millisecond)
	}

	lines := handled(t, logPath)
	firsts := map[string][]int{} // key: first handlings in order
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l.id] {
			continue
		}
		seen[l.id] = true
		n, err := strconv.Atoi(strings.TrimPrefix(l.id, "m"))
		require.NoError(t, err)
		firsts[l.key] = append(firsts[l.key], n)
	}
	assert.Len(t, seen, messages, "every message handled")
	for key, ns := range firsts {
		for i := 1; i < len(ns); i++ {
			if ns[i] < ns[i-1] {
				t.Errorf("key %s: m%04d handled for the first time after m%04d", key, ns[i], ns[i-1])
				break
			}
		}
	}
	t.Logf("%d handler calls recorded for %d messages over %d kills", len(lines), len(seen), kills)
}

type handling struct{ id, key string }

// handled reads the child's log.
func handled(t *testing.T, path string) []handling {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []handling
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 4 {
			out = append(out, handling{fields[0], fields[1]})
		}
	}
	return out
}
