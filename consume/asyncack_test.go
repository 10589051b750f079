package consume

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAsyncAckFreesTheWorkerNotTheMessage: with an AsyncAcker the worker
// runs the next message as soon as an acknowledgement is sent, but the
// message keeps its MaxPending slot and its key until the Source confirms
// it.
func TestAsyncAckFreesTheWorkerNotTheMessage(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	src.async = true
	var handled []string
	h := HandlerFunc(func(ctx context.Context, m *Message) error { handled = append(handled, m.ID); return nil }) // one worker
	c, err := New(src, h, Config{Concurrency: 1, MaxPending: 3, Clock: clocktest.New(t0)})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "a", Key: "k"}, Message{ID: "b", Key: "k"}, Message{ID: "c"})
	eventually(t, "a and c acknowledged", func() bool { return len(src.calls("ackasync")) == 2 })
	assert.Equal(t, []string{"ackasync a", "ackasync c"}, src.calls("ackasync"), "the one worker did not wait for a's confirmation")
	assert.Empty(t, src.calls("ack "), "no Ack beside AckAsync")
	time.Sleep(20 * time.Millisecond) // b or a Receive would come now if it were wrong
	assert.Equal(t, []string{"a", "c"}, handled, "b waits for a's confirmation")
	select {
	case n := <-src.receiving:
		t.Fatalf("Receive(%d) called while unconfirmed messages held every MaxPending slot", n)
	default:
	}
	src.confirm(t, "c", nil)
	assert.Equal(t, 1, src.waitReceive(t), "c's confirmation frees its slot")
	src.confirm(t, "a", nil)
	eventually(t, "b acknowledged", func() bool { return len(src.calls("ackasync")) == 3 })
	assert.Equal(t, []string{"a", "c", "b"}, handled)
	src.confirm(t, "b", nil)
}

// TestFailedAsyncAckIsDropped: a confirmation that fails reports the
// message Dropped, as a failed Ack does, and lets its key go on.
func TestFailedAsyncAckIsDropped(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	src.async = true
	ev := &events{}
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return nil }), Config{Clock: clocktest.New(t0), Observer: ev})
	require.NoError(t, err)
	run(t, c)
	src.waitReceive(t)
	src.send(t, Message{ID: "a", Key: "k"}, Message{ID: "b", Key: "k"})
	src.confirm(t, "a", ErrGone)
	src.confirm(t, "b", nil)
	eventually(t, "the event", func() bool { return len(ev.kinds()) == 1 })
	d := ev.list()[0].(Dropped)
	assert.Equal(t, "a", d.ID)
	assert.ErrorIs(t, d.Err, ErrGone)
}

// TestCloseWaitsForAckConfirmations: Close (and Run) return only once every
// acknowledgement sent with AckAsync is confirmed, and close the Source
// after that.
func TestCloseWaitsForAckConfirmations(t *testing.T) {
	leakcheck.Check(t)
	src := newFakeSource()
	src.async = true
	c, err := New(src, HandlerFunc(func(ctx context.Context, m *Message) error { return nil }), Config{Clock: clocktest.New(t0)})
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(context.Background()) }()
	src.waitReceive(t)
	src.send(t, Message{ID: "a"})
	eventually(t, "a acknowledged", func() bool { return len(src.calls("ackasync")) == 1 })

	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- c.Close(ctx)
	}()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while an acknowledgement was unconfirmed", err)
	case err := <-ran:
		t.Fatalf("Run returned (%v) while an acknowledgement was unconfirmed", err)
	case <-time.After(100 * time.Millisecond):
	}
	assert.Empty(t, src.calls("close"), "the Source is closed after the confirmations")
	src.confirm(t, "a", nil)
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return once the acknowledgement was confirmed")
	}
	require.NoError(t, <-ran)
	assert.Equal(t, []string{"ackasync a", "close"}, src.take())
}
