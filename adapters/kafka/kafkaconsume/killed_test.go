package kafkaconsume_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){"consumer": runKilledConsumer})
}

// The child's settings, from the parent.
const (
	envSeeds = "KAFKACONSUME_SEEDS"
	envTopic = "KAFKACONSUME_TOPIC"
	envOut   = "KAFKACONSUME_OUT"
)

// childOpts are the client options of the killed consumer: a short session,
// so that the group drops a killed member quickly.
func childOpts(seeds []string) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.FetchMaxWait(50 * time.Millisecond)}
}

// runKilledConsumer is the child: a Consumer on a Source whose handler
// appends "<id> <key>" to a file, until SIGKILL, or SIGTERM (then it closes
// and exits).
func runKilledConsumer() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	topic := os.Getenv(envTopic)
	f, err := os.OpenFile(os.Getenv(envOut), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		panic(err)
	}
	src, err := kafkaconsume.New("killed-"+topic, []string{topic}, kafkaconsume.Config{
		Opts: childOpts(strings.Split(os.Getenv(envSeeds), ",")), CommitInterval: 100 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	c, err := consume.New(src, consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		time.Sleep(2 * time.Millisecond) // a little work, so that kills land mid-stream
		mu.Lock()
		defer mu.Unlock()
		_, err := f.WriteString(m.ID + " " + m.Key + "\n") // one write: whole lines survive a SIGKILL
		return err
	}), consume.Config{Concurrency: 4, MaxPending: 64})
	if err != nil {
		panic(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Close(cctx); err != nil {
		panic(err)
	}
	if err := <-done; err != nil {
		panic(err)
	}
}

// TestKilledConsumerLosesNothing: a consuming process is SIGKILLed ten
// times mid-stream and restarted, over 5,000 messages on 100 keys and 4
// partitions. Every message is handled at least once, each key's messages
// are first handled in publish order (no commit ran ahead of work not
// done), and once the last process closes nothing is left uncommitted.
func TestKilledConsumerLosesNothing(t *testing.T) {
	const n, keys, kills = 5000, 100, 10
	c := kafkatest.Cluster(t, kfake.GroupMinSessionTimeout(100*time.Millisecond))
	topic := kafkatest.Topic(t, c, 4)
	require.NoError(t, c.CreateTopic(topic+".retry", 4, nil))
	prod := kafkatest.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range n {
		rec := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%keys), Value: fmt.Appendf(nil, "%d", i),
			Headers: []kgo.RecordHeader{{Key: kafkaconsume.IDHeader, Value: fmt.Appendf(nil, "m%d", i)}}}
		prod.Produce(ctx, rec, func(_ *kgo.Record, err error) { require.NoError(t, err) })
	}
	require.NoError(t, prod.Flush(ctx))

	out := filepath.Join(t.TempDir(), "effects")
	env := []string{envSeeds + "=" + strings.Join(c.ListenAddrs(), ","), envTopic + "=" + topic, envOut + "=" + out}
	handled := func() (lines []string) {
		f, err := os.Open(out)
		if os.IsNotExist(err) {
			return nil
		}
		require.NoError(t, err)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return lines
	}
	distinct := func() int {
		seen := map[string]bool{}
		for _, l := range handled() {
			seen[l] = true
		}
		return len(seen)
	}
	for k := range kills {
		cmd := testenv.Command(t, "consumer", env...)
		require.NoError(t, cmd.Start())
		// Kill it once it has handled some more, at a random moment.
		before := distinct()
		deadline := time.Now().Add(30 * time.Second)
		for distinct() < min(n, before+n/(2*kills)) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		t.Logf("kill %d: %d messages handled", k+1, distinct())
	}
	// The last one runs until every message is handled, and then long
	// enough to take over and finish what the killed ones left
	// uncommitted, and is stopped with SIGTERM: it closes, committing.
	cmd := testenv.Command(t, "consumer", env...)
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for distinct() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for last := -1; last != len(handled()); time.Sleep(2 * time.Second) { // until it is idle
		last = len(handled())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "the last consumer closes cleanly")

	lines := handled()
	firsts := map[string][]int{}
	seen := map[string]bool{}
	for _, l := range lines {
		id, key, ok := strings.Cut(l, " ")
		require.True(t, ok, "line %q", l)
		if seen[id] {
			continue
		}
		seen[id] = true
		var i int
		_, err := fmt.Sscanf(id, "m%d", &i)
		require.NoError(t, err)
		firsts[key] = append(firsts[key], i)
	}
	assert.Equal(t, n, len(seen), "every message handled")
	for k := range keys {
		var want []int
		for i := k; i < n; i += keys {
			want = append(want, i)
		}
		assert.Equal(t, want, firsts[fmt.Sprintf("k%d", k)], "key k%d first handled in order", k)
	}
	t.Logf("%d messages, %d handler calls over %d kills", n, len(lines), kills)

	// Nothing left uncommitted: a new member of the group gets nothing.
	s, err := kafkaconsume.New("killed-"+topic, []string{topic}, kafkaconsume.Config{Opts: childOpts(c.ListenAddrs())})
	require.NoError(t, err)
	defer func() { _ = s.Close(context.Background()) }()
	nothingMore(t, s, 2*time.Second)
}
