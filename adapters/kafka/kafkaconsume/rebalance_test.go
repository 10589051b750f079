package kafkaconsume_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRebalanceMovesPartitionsMidFlight: a second Source joins the group
// while the first has deliveries out on every partition. The first waits
// (up to RevokeWait) for the revoked partitions' deliveries, so one acked
// during the wait counts and is committed; one still out after it is
// abandoned (its Ack returns consume.ErrGone) and not committed, so the new
// owner delivers it again. No record is lost, none is committed before it
// is done, and the first keeps its other partitions' deliveries.
func TestRebalanceMovesPartitionsMidFlight(t *testing.T) {
	const parts, per = 4, 5
	e := newEnv(t, parts)
	for p := range int32(parts) {
		e.produceValues(t, p, per)
	}
	revoked := make(chan kafkaconsume.Revoked, 4)
	obs := bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
		if r, ok := ev.(kafkaconsume.Revoked); ok && len(r.Partitions) > 0 {
			revoked <- r
		}
	})
	fast := []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}
	const wait = 3 * time.Second
	a := e.source(t, kafkaconsume.Config{Name: "a", Observer: obs, RevokeWait: wait, Opts: fast})
	ctx := context.Background()
	byPos := map[string]consume.Delivery{}
	for _, d := range receive(t, a, parts*per) {
		byPos[string(d.Message().Payload)] = d
	}
	for p := range parts {
		for _, i := range []int{0, 1, 3} {
			require.NoError(t, byPos[fmt.Sprintf("%d-%d", p, i)].Ack(ctx))
		}
	}

	// b joins; what it receives is collected until the test ends.
	b := e.source(t, kafkaconsume.Config{Name: "b", RevokeWait: wait, Opts: fast})
	var mu sync.Mutex
	var atB []string
	bctx, stopB := context.WithCancel(ctx)
	bdone := make(chan struct{})
	go func() {
		defer close(bdone)
		for {
			ds, err := b.Receive(bctx, 10)
			if err != nil {
				return
			}
			mu.Lock()
			for _, d := range ds {
				atB = append(atB, string(d.Message().Payload))
				_ = d.Ack(bctx)
			}
			mu.Unlock()
		}
	}()
	start := time.Now()
	time.Sleep(time.Second) // the rebalance is under way: a waits for offsets 2 and 4
	for p := range parts {
		require.NoError(t, byPos[fmt.Sprintf("%d-2", p)].Ack(ctx), "acked during the revocation's wait")
	}
	var r kafkaconsume.Revoked
	select {
	case r = <-revoked:
	case <-time.After(20 * time.Second):
		t.Fatal("no revocation")
	}
	assert.GreaterOrEqual(t, time.Since(start), wait, "the revocation waited for offset 4")
	moved := r.Partitions[e.topic]
	require.Len(t, moved, parts/2, "cooperative-sticky moves half")
	assert.Equal(t, len(moved), r.Abandoned, "offset 4 of each moved partition")
	for p := range int32(parts) {
		err := byPos[fmt.Sprintf("%d-4", p)].Ack(ctx)
		if slices.Contains(moved, p) {
			assert.ErrorIs(t, err, consume.ErrGone, "partition %d moved", p)
		} else {
			assert.NoError(t, err, "partition %d stayed", p)
		}
	}
	// b gets exactly offset 4 of each moved partition: 0-3 were done and
	// committed on revocation, 4 was not done.
	var want []string
	for _, p := range moved {
		want = append(want, fmt.Sprintf("%d-4", p))
	}
	assert.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(atB) >= len(want)
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // nothing more arrives
	stopB()
	<-bdone
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, want, atB)
}

// TestRevocationEndsOnceDeliveriesSettle: a revocation whose deliveries
// are all settled does not wait out RevokeWait.
func TestRevocationEndsOnceDeliveriesSettle(t *testing.T) {
	e := newEnv(t, 2)
	e.produceValues(t, 0, 1)
	e.produceValues(t, 1, 1)
	revoked := make(chan struct{}, 4)
	obs := bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
		if r, ok := ev.(kafkaconsume.Revoked); ok && len(r.Partitions) > 0 {
			revoked <- struct{}{}
		}
	})
	fast := []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond)}
	a := e.source(t, kafkaconsume.Config{Observer: obs, RevokeWait: 30 * time.Second, Opts: fast})
	ds := receive(t, a, 2)
	b := e.source(t, kafkaconsume.Config{Opts: fast})
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	go func() { _, _ = b.Receive(bctx, 1) }()
	start := time.Now()
	time.Sleep(500 * time.Millisecond)
	for _, d := range ds {
		require.NoError(t, d.Ack(context.Background()))
	}
	select {
	case <-revoked:
	case <-time.After(20 * time.Second):
		t.Fatal("no revocation")
	}
	assert.Less(t, time.Since(start), 10*time.Second)
}

// TestLostPartitionsAreGoneAtOnce: when the group says the member is
// unknown (its session expired), its partitions are lost: their
// deliveries' settles return consume.ErrGone at once, nothing more is
// committed, and after rejoining the Source delivers the records again.
func TestLostPartitionsAreGoneAtOnce(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 2)
	lost := make(chan kafkaconsume.Lost, 1)
	obs := bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
		if l, ok := ev.(kafkaconsume.Lost); ok && len(l.Partitions) > 0 {
			lost <- l
		}
	})
	s := e.source(t, kafkaconsume.Config{Observer: obs, CommitInterval: time.Hour,
		Opts: []kgo.Opt{kgo.HeartbeatInterval(50 * time.Millisecond)}})
	ds := receive(t, s, 2)
	ctx := context.Background()
	require.NoError(t, ds[0].Ack(ctx))
	e.c.ControlKey(kmsg.Heartbeat.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		resp := kreq.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	var l kafkaconsume.Lost
	select {
	case l = <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("no partitions lost")
	}
	assert.Equal(t, map[string][]int32{e.topic: {0}, e.topic + ".retry": {0}}, l.Partitions)
	assert.Equal(t, 1, l.Abandoned)
	assert.ErrorIs(t, ds[1].Ack(ctx), consume.ErrGone)
	assert.Equal(t, []string{"0", "1"}, values(receive(t, s, 2)), "nothing was committed: both come again")
}

// TestSettlingLostDeliveries: every way of settling a delivery of a lost
// partition returns consume.ErrGone, and a Redeliver whose partition is
// lost while its retry record is being produced returns consume.ErrGone
// too: the message then comes twice, its retry copy and the original, with
// the same ID.
func TestSettlingLostDeliveries(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 4)
	lost := make(chan struct{})
	var once sync.Once
	obs := bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
		if l, ok := ev.(kafkaconsume.Lost); ok && len(l.Partitions) > 0 {
			once.Do(func() { close(lost) })
		}
	})
	s := e.source(t, kafkaconsume.Config{Observer: obs, CommitInterval: time.Hour,
		Opts: []kgo.Opt{kgo.HeartbeatInterval(50 * time.Millisecond)}})
	ds := receive(t, s, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	producing := make(chan struct{})
	var first sync.Once
	e.c.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		first.Do(func() {
			close(producing)
			e.c.SleepControl(func() { <-lost }) // until the partition is lost
		})
		return nil, nil, false // then stored as usual
	})
	redelivered := make(chan error, 1)
	go func() { redelivered <- ds[0].Redeliver(ctx, 0) }()
	<-producing
	e.c.ControlKey(kmsg.Heartbeat.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		resp := kreq.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	assert.ErrorIs(t, <-redelivered, consume.ErrGone)
	assert.ErrorIs(t, ds[1].Extend(ctx), consume.ErrGone)
	assert.ErrorIs(t, ds[2].Release(ctx), consume.ErrGone)
	assert.ErrorIs(t, ds[3].Redeliver(ctx, 0), consume.ErrGone)

	again := receive(t, s, 5)
	var ids []string
	attempts := map[int]int{}
	for _, d := range again {
		if d.Message().ID == ds[0].Message().ID {
			ids = append(ids, d.Message().ID)
			attempts[d.Message().Attempt]++
		}
	}
	assert.Len(t, ids, 2, "the original and its retry copy")
	assert.Equal(t, map[int]int{1: 1, 2: 1}, attempts)
	nothingMore(t, s, 300*time.Millisecond)
}
