package kafkaconsume_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/kafkatest"
	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// env is a kfake cluster with a topic, its retry topic and a producer.
type env struct {
	c     *kfake.Cluster
	topic string
	group string
	prod  *kgo.Client
}

func newEnv(t *testing.T, partitions int32) *env {
	t.Helper()
	c := kafkatest.Cluster(t)
	topic := kafkatest.Topic(t, c, partitions)
	require.NoError(t, c.CreateTopic(topic+".retry", partitions, nil))
	return &env{c: c, topic: topic, group: "g-" + topic, prod: kafkatest.Client(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))}
}

// source returns a Source of e's topic in e's group, closed when the test
// ends.
func (e *env) source(t *testing.T, cfg kafkaconsume.Config) *kafkaconsume.Source {
	t.Helper()
	cfg.Opts = append([]kgo.Opt{kgo.SeedBrokers(e.c.ListenAddrs()...), kgo.FetchMaxWait(50 * time.Millisecond)}, cfg.Opts...)
	s, err := kafkaconsume.New(e.group, []string{e.topic}, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// produce sends records with values "0", "1", ... to partition p of e's
// topic, keyed key.
func (e *env) produce(t *testing.T, p int32, key string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		rec := &kgo.Record{Topic: e.topic, Partition: p, Key: []byte(key), Value: []byte(strconv.Itoa(i))}
		require.NoError(t, e.prod.ProduceSync(ctx, rec).FirstErr())
	}
}

// produceValues sends n records with values "<p>-0", "<p>-1", ... to
// partition p of e's topic.
func (e *env) produceValues(t *testing.T, p int32, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		rec := &kgo.Record{Topic: e.topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)}
		require.NoError(t, e.prod.ProduceSync(ctx, rec).FirstErr())
	}
}

// receive receives until it has n deliveries, or fails the test.
func receive(t *testing.T, s *kafkaconsume.Source, n int) []consume.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []consume.Delivery
	for len(got) < n {
		ds, err := s.Receive(ctx, n-len(got))
		require.NoError(t, err, "received %d of %d", len(got), n)
		got = append(got, ds...)
	}
	return got
}

// nothingMore checks that s has nothing to hand out for a while.
func nothingMore(t *testing.T, s *kafkaconsume.Source, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	ds, err := s.Receive(ctx, 10)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Empty(t, ds)
}

func values(ds []consume.Delivery) []string {
	var vs []string
	for _, d := range ds {
		vs = append(vs, string(d.Message().Payload))
	}
	return vs
}

// TestCommitsTheDonePrefix: acks out of order commit only the offsets
// whose records and all before them are done; a restarted Source starts at
// the first record not done.
func TestCommitsTheDonePrefix(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 6)
	s := e.source(t, kafkaconsume.Config{})
	ds := receive(t, s, 6)
	require.Equal(t, []string{"0", "1", "2", "3", "4", "5"}, values(ds))
	ctx := context.Background()
	for _, i := range []int{5, 3, 1, 0, 4} { // 2 is not done
		require.NoError(t, ds[i].Ack(ctx))
	}
	require.NoError(t, s.Close(ctx))
	require.NoError(t, s.Close(ctx), "Close is idempotent")
	_, err := s.Receive(ctx, 1)
	assert.ErrorIs(t, err, kafkaconsume.ErrClosed)
	assert.ErrorIs(t, ds[2].Ack(ctx), consume.ErrGone, "after Close")

	s2 := e.source(t, kafkaconsume.Config{})
	again := receive(t, s2, 4)
	assert.Equal(t, []string{"2", "3", "4", "5"}, values(again), "committed up to offset 2, not beyond")
	for _, d := range again {
		require.NoError(t, d.Ack(ctx))
	}
	assert.ErrorContains(t, again[0].Ack(ctx), "already settled")
	require.NoError(t, s2.Close(ctx))

	s3 := e.source(t, kafkaconsume.Config{})
	nothingMore(t, s3, time.Second)
}

// TestCommitsPeriodically: done offsets are committed every
// CommitInterval, not only on revocation and Close.
func TestCommitsPeriodically(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 3)
	s := e.source(t, kafkaconsume.Config{CommitInterval: 10 * time.Millisecond})
	ds := receive(t, s, 3)
	ctx := context.Background()
	require.NoError(t, ds[0].Ack(ctx))
	require.NoError(t, ds[1].Ack(ctx))
	assert.Eventually(t, func() bool {
		return committed(t, e, 0) == 2
	}, 5*time.Second, 20*time.Millisecond)
}

// committed returns the group's committed offset of e's topic's partition
// p, -1 for none.
func committed(t *testing.T, e *env, p int32) int64 {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = e.group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = e.topic
	rt.Partitions = []int32{p}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, e.prod)
	require.NoError(t, err)
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			if rp.Partition == p {
				return rp.Offset
			}
		}
	}
	return -1
}

// TestReleaseHandsTheRecordOutAgain: a released record is handed out again
// by the next Receive, before records fetched later, with the same
// Attempt, and is not committed meanwhile.
func TestReleaseHandsTheRecordOutAgain(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 2)
	s := e.source(t, kafkaconsume.Config{})
	ds := receive(t, s, 2)
	ctx := context.Background()
	require.NoError(t, ds[0].Release(ctx))
	require.ErrorContains(t, ds[0].Ack(ctx), "already settled", "a released delivery is over")
	e.produce(t, 0, "", 1)
	again := receive(t, s, 2)
	assert.Equal(t, []string{"0", "0"}, values(again), "the released record first, then the new one")
	assert.Equal(t, 1, again[0].Message().Attempt)
	assert.Equal(t, ds[0].Message().ID, again[0].Message().ID)
	require.NoError(t, again[0].Ack(ctx))
	require.NoError(t, ds[1].Release(ctx))
	require.NoError(t, s.Close(ctx)) // commits offset 1

	s2 := e.source(t, kafkaconsume.Config{})
	assert.Equal(t, []string{"1", "0"}, values(receive(t, s2, 2)))
}

// TestRedeliverThroughTheRetryTopic: Redeliver produces the message to the
// retry topic with Attempt+1 and acks the original; the Source holds the
// retry record until its delay is over while other records flow.
func TestRedeliverThroughTheRetryTopic(t *testing.T) {
	e := newEnv(t, 2)
	e.produce(t, 0, "", 1)
	fake := clocktest.New(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	s := e.source(t, kafkaconsume.Config{Clock: fake})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first := receive(t, s, 1)[0]
	m := *first.Message()
	require.Equal(t, 1, m.Attempt)
	require.NoError(t, first.Redeliver(ctx, time.Minute))
	assert.ErrorContains(t, first.Ack(ctx), "already settled")
	e.produce(t, 1, "", 1) // flows meanwhile
	other := receive(t, s, 1)[0]
	assert.Equal(t, e.topic, other.Message().Metadata.(*kgo.Record).Topic, "not held up by the waiting retry")
	require.NoError(t, other.Ack(ctx))

	fake.BlockUntil(1) // the commit loop's timer
	fake.Advance(time.Minute)
	retried := receive(t, s, 1)[0]
	rm := retried.Message()
	assert.Equal(t, m.ID, rm.ID)
	assert.Equal(t, e.topic, rm.Topic, "Topic names the original topic")
	assert.Equal(t, 2, rm.Attempt)
	assert.Equal(t, m.Payload, rm.Payload)
	assert.Equal(t, m.PublishedAt.UnixMilli(), rm.PublishedAt.UnixMilli())
	assert.Equal(t, e.topic+".retry", rm.Metadata.(*kgo.Record).Topic)
	assert.Equal(t, "2026-12-07T00:01:00Z", headerOf(rm.Metadata.(*kgo.Record), kafkaconsume.NotBeforeHeader))
	require.NoError(t, retried.Redeliver(ctx, 0))
	third := receive(t, s, 1)[0]
	assert.Equal(t, 3, third.Message().Attempt)
	require.NoError(t, third.Ack(ctx))
	require.NoError(t, s.Close(ctx))

	s2 := e.source(t, kafkaconsume.Config{})
	nothingMore(t, s2, time.Second)
}

// TestRetryRecordsDoNotWaitForEachOther: a retry record due later does not
// hold back one due sooner behind it in the same retry partition.
func TestRetryRecordsDoNotWaitForEachOther(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 2)
	s := e.source(t, kafkaconsume.Config{})
	ctx := context.Background()
	ds := receive(t, s, 2)
	require.NoError(t, ds[0].Redeliver(ctx, time.Hour))
	require.NoError(t, ds[1].Redeliver(ctx, 0))
	got := receive(t, s, 1)
	assert.Equal(t, []string{"1"}, values(got))
	assert.Equal(t, 2, got[0].Message().Attempt)
	require.NoError(t, got[0].Ack(ctx))
	nothingMore(t, s, 300*time.Millisecond)
	require.NoError(t, s.Close(ctx))

	// The held record's offset is not committed, so neither is the done
	// one behind it: a restarted Source holds the first again and hands
	// out the second again (at least once).
	s2 := e.source(t, kafkaconsume.Config{})
	again := receive(t, s2, 1)
	assert.Equal(t, []string{"1"}, values(again))
	nothingMore(t, s2, 300*time.Millisecond)
}

func TestMaxHeldPausesTheRetryTopics(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 3)
	fake := clocktest.New(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	s := e.source(t, kafkaconsume.Config{MaxHeld: 1, Clock: fake})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ds := receive(t, s, 3)
	require.NoError(t, ds[0].Redeliver(ctx, time.Hour))
	require.NoError(t, ds[1].Redeliver(ctx, 0))
	require.NoError(t, ds[2].Redeliver(ctx, 0))
	got := make(chan []consume.Delivery, 1)
	go func() {
		ds, _ := s.Receive(ctx, 1) // polls one record at a time: the held one first
		got <- ds
	}()
	fake.BlockUntil(2) // the commit loop's timer and the held record's
	select {
	case ds := <-got:
		t.Fatalf("handed out %v: with one held, the retry topic must not be fetched until it is due", values(ds))
	case <-time.After(300 * time.Millisecond):
	}
	fake.Advance(time.Hour)
	all := <-got
	all = append(all, receive(t, s, 2)...)
	assert.Equal(t, []string{"0", "1", "2"}, values(all))
}

// TestFailedRedeliverHandsTheRecordOutAgain: when the retry record cannot
// be produced, Redeliver fails and the record is handed out again, not
// committed and not stuck.
func TestFailedRedeliverHandsTheRecordOutAgain(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 1)
	s := e.source(t, kafkaconsume.Config{RetryTopic: func(t string) string { return t + ".missing" }})
	d := receive(t, s, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := d.Redeliver(ctx, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kafkaconsume: redelivering "+e.topic+"/0/0 through "+e.topic+".missing")
	again := receive(t, s, 1)[0]
	assert.Equal(t, d.Message().ID, again.Message().ID)
	assert.Equal(t, 1, again.Message().Attempt)
	require.NoError(t, again.Ack(context.Background()))
}

// TestRetryRecordsAreHeldOnConfigClock: a retry record is held until its
// not-before time on Config.Clock, by a timer, not a blocked partition.
func TestRetryRecordsAreHeldOnConfigClock(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(t, 0, "", 1)
	fake := clocktest.New(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	s := e.source(t, kafkaconsume.Config{Clock: fake})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := receive(t, s, 1)[0]
	require.NoError(t, d.Redeliver(ctx, time.Hour))
	got := make(chan []consume.Delivery, 1)
	go func() {
		ds, _ := s.Receive(ctx, 1)
		got <- ds
	}()
	fake.BlockUntil(2) // the commit loop's timer and the held record's
	select {
	case ds := <-got:
		t.Fatalf("handed out %v before its time", values(ds))
	case <-time.After(200 * time.Millisecond):
	}
	fake.Advance(time.Hour - time.Nanosecond)
	select {
	case ds := <-got:
		t.Fatalf("handed out %v before its time", values(ds))
	case <-time.After(200 * time.Millisecond):
	}
	fake.Advance(time.Nanosecond)
	ds := <-got
	require.Len(t, ds, 1)
	assert.Equal(t, 2, ds[0].Message().Attempt)
	nb := headerOf(ds[0].Message().Metadata.(*kgo.Record), kafkaconsume.NotBeforeHeader)
	assert.Equal(t, "2026-12-07T01:00:00Z", nb)
}

func headerOf(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
