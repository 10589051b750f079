package natsconsume_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natstest"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ackDone collects AckAsync outcomes.
type ackDone chan error

func (c ackDone) AckDone(err error) { c <- err }

// ackAsync starts AckAsync on d and returns the channel its outcome comes to.
func ackAsync(ctx context.Context, d consume.Delivery) ackDone {
	done := make(ackDone, 1)
	d.(consume.AsyncAcker).AckAsync(ctx, done)
	return done
}

func (c ackDone) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		require.FailNow(t, "AckAsync's done was not called")
		return nil
	}
}

// consumerInfo returns the durable's state on the server.
func (e *env) consumerInfo() *jetstream.ConsumerInfo {
	e.t.Helper()
	cons, err := e.stream.Consumer(context.Background(), e.cfg.Durable)
	require.NoError(e.t, err)
	ci, err := cons.Info(context.Background())
	require.NoError(e.t, err)
	return ci
}

// TestAckAsyncIsConfirmed: done gets nil once the server has applied each
// acknowledgement (none pending on the server), sent many at a time; a
// second settlement of the same delivery fails.
func TestAckAsyncIsConfirmed(t *testing.T) {
	for _, confirm := range []bool{true, false} {
		t.Run(fmt.Sprintf("confirmed=%v", confirm), func(t *testing.T) {
			e := newEnv(t, natstest.Server(t))
			const n = 50
			var ms []consume.Message
			for i := range n {
				ms = append(ms, consume.Message{ID: fmt.Sprint(i)})
			}
			e.publish(ms...)
			src := e.source(func(c *natsconsume.Config) { c.AckWithoutConfirm = !confirm })
			ds := receive(t, src, n)
			var dones []ackDone
			for _, d := range ds {
				dones = append(dones, ackAsync(context.Background(), d))
			}
			for _, done := range dones {
				require.NoError(t, done.wait(t))
			}
			if !confirm {
				require.NoError(t, e.nc.Flush())
			}
			require.Eventually(t, func() bool { return e.consumerInfo().NumAckPending == 0 }, 5*time.Second, 10*time.Millisecond)
			assert.Equal(t, uint64(n), e.consumerInfo().AckFloor.Stream)
			assert.ErrorContains(t, ackAsync(context.Background(), ds[0]).wait(t), "already settled")
		})
	}
}

// unanswered makes the server leave acknowledgements of the deliveries
// already made unanswered: the durable is deleted and made again under
// the same name, and has not delivered those sequences.
func (e *env) unanswered() {
	e.t.Helper()
	ctx := context.Background()
	require.NoError(e.t, e.stream.DeleteConsumer(ctx, e.cfg.Durable))
	_, err := e.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: e.cfg.Durable, AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "nothing.here"})
	require.NoError(e.t, err)
}

// TestAckAsyncTimesOut: an acknowledgement the server does not answer
// fails after AckTimeout, or at ctx's deadline when that is earlier, with
// the errors Ack has, and may be tried again.
func TestAckAsyncTimesOut(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"}, consume.Message{ID: "b"})
	src := e.source(func(c *natsconsume.Config) { c.AckTimeout = 300 * time.Millisecond })
	ds := receive(t, src, 2)
	e.unanswered()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	byCtx := ackAsync(ctx, ds[0])
	byTimeout := ackAsync(context.Background(), ds[1])
	err := byCtx.wait(t)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "natsconsume: acknowledging a: ")
	assert.Less(t, time.Since(start), 300*time.Millisecond, "ctx's deadline, before AckTimeout")
	err = byTimeout.wait(t)
	elapsed := time.Since(start)
	assert.ErrorIs(t, err, nats.ErrTimeout)
	assert.ErrorContains(t, err, "natsconsume: acknowledging b: no answer from the server within Config.AckTimeout (300ms)")
	assert.GreaterOrEqual(t, elapsed, 300*time.Millisecond)
	assert.Less(t, elapsed, 3*time.Second)
	assert.NotContains(t, ackAsync(context.Background(), ds[1]).wait(t).Error(), "already settled", "a failed acknowledgement may be tried again")
}

// TestAckAsyncWhenTheConsumerIsGone: nobody answering means ErrGone, as
// for Ack.
func TestAckAsyncWhenTheConsumerIsGone(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	e.publish(consume.Message{ID: "a"})
	src := e.source(nil)
	d := receive(t, src, 1)[0]
	require.NoError(t, e.stream.DeleteConsumer(context.Background(), e.cfg.Durable))
	err := ackAsync(context.Background(), d).wait(t)
	assert.ErrorIs(t, err, consume.ErrGone)
	assert.ErrorContains(t, err, "natsconsume: acknowledging a: ")
}

// TestCloseWaitsForAckAsync: Close returns only once the server has
// answered every acknowledgement sent with AckAsync (or it timed out), each
// done called before; when Close's ctx ends first, the unanswered ones
// fail with ctx's error before Close returns it.
func TestCloseWaitsForAckAsync(t *testing.T) {
	t.Run("answered", func(t *testing.T) {
		e := newEnv(t, natstest.Server(t))
		const n = 200
		var ms []consume.Message
		for i := range n {
			ms = append(ms, consume.Message{ID: fmt.Sprint(i)})
		}
		e.publish(ms...)
		src := e.source(nil)
		ds := receive(t, src, n)
		var confirmed atomic.Int32
		counter := countDone{&confirmed}
		for _, d := range ds {
			d.(consume.AsyncAcker).AckAsync(context.Background(), counter)
		}
		require.NoError(t, src.Close(context.Background()))
		assert.Equal(t, int32(n), confirmed.Load(), "every acknowledgement confirmed when Close returns")
		assert.Zero(t, e.consumerInfo().NumAckPending)
	})
	t.Run("unanswered", func(t *testing.T) {
		e := newEnv(t, natstest.Server(t))
		e.publish(consume.Message{ID: "a"})
		src := e.source(func(c *natsconsume.Config) { c.AckTimeout = 500 * time.Millisecond })
		d := receive(t, src, 1)[0]
		e.unanswered()
		done := ackAsync(context.Background(), d)
		start := time.Now()
		require.NoError(t, src.Close(context.Background()))
		assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "Close waited for the acknowledgement's AckTimeout")
		select {
		case err := <-done:
			assert.ErrorIs(t, err, nats.ErrTimeout)
		default:
			t.Fatal("Close returned before the acknowledgement's done was called")
		}
	})
	t.Run("ctx ends first", func(t *testing.T) {
		e := newEnv(t, natstest.Server(t))
		e.publish(consume.Message{ID: "a"})
		src := e.source(func(c *natsconsume.Config) { c.AckTimeout = 5 * time.Second })
		d := receive(t, src, 1)[0]
		e.unanswered()
		done := ackAsync(context.Background(), d)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := src.Close(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "natsconsume: Close: 1 acknowledgement(s) not confirmed")
		assert.Less(t, time.Since(start), 3*time.Second)
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.ErrorContains(t, err, "Source closed before the server confirmed it")
		default:
			t.Fatal("Close returned before the acknowledgement's done was called")
		}
	})
	t.Run("after Close", func(t *testing.T) {
		e := newEnv(t, natstest.Server(t))
		e.publish(consume.Message{ID: "a"})
		src := e.source(nil)
		d := receive(t, src, 1)[0]
		require.NoError(t, src.Close(context.Background()))
		require.NoError(t, ackAsync(context.Background(), d).wait(t), "AckAsync after Close waits for its answer itself")
		assert.Zero(t, e.consumerInfo().NumAckPending)
	})
}

// countDone counts the AckAsync outcomes that are nil.
type countDone struct{ n *atomic.Int32 }

func (c countDone) AckDone(err error) {
	if err == nil {
		c.n.Add(1)
	}
}

// TestAckAsyncBoundsWhatAwaitsAnswers: with 1024 acknowledgements awaiting
// their answers, AckAsync waits for room before it sends another (here:
// until the unanswered ones time out).
func TestAckAsyncBoundsWhatAwaitsAnswers(t *testing.T) {
	e := newEnv(t, natstest.Server(t))
	const bound = 1024
	ctx := context.Background()
	for i := range bound + 1 {
		msg, err := natsconsume.Encode(consume.Message{ID: fmt.Sprint(i), Topic: e.name + ".t"})
		require.NoError(t, err)
		_, err = e.js.PublishMsgAsync(msg)
		require.NoError(t, err)
	}
	<-e.js.PublishAsyncComplete()
	src := e.source(func(c *natsconsume.Config) {
		c.AckTimeout = 500 * time.Millisecond
		c.MaxAckPending = natsconsume.Unlimited
	})
	ds := receive(t, src, bound+1)
	e.unanswered()
	var failed atomic.Int32
	counter := countFailed{&failed}
	start := time.Now()
	for _, d := range ds[:bound] {
		d.(consume.AsyncAcker).AckAsync(ctx, counter)
	}
	assert.Less(t, time.Since(start), 400*time.Millisecond, "the first 1024 are sent at once")
	last := ackAsync(ctx, ds[bound])
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond, "the 1025th waited for room")
	assert.Positive(t, failed.Load(), "room came from the first ones timing out")
	assert.ErrorIs(t, last.wait(t), nats.ErrTimeout)
}

// countFailed counts the AckAsync outcomes that are errors.
type countFailed struct{ n *atomic.Int32 }

func (c countFailed) AckDone(err error) {
	if err != nil {
		c.n.Add(1)
	}
}
