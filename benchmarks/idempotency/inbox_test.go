package idempotency

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	wmmiddleware "github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/bulwark-go/bulwark/idempotency"
)

func newInbox(tb testing.TB) *idempotency.Inbox {
	k, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	in, err := idempotency.NewInbox(k, idempotency.InboxConfig{Consumer: "billing"})
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

func newDeduplicator(tb testing.TB) *wmmiddleware.Deduplicator {
	repo, err := wmmiddleware.NewMapExpiringKeyRepository(time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return &wmmiddleware.Deduplicator{
		KeyFactory: func(m *message.Message) (string, error) { return m.UUID, nil },
		Repository: repo,
		Timeout:    time.Minute,
	}
}

// BenchmarkInbox compares bulwark's Inbox on the memory store with
// watermill's Deduplicator middleware on its map repository, both keyed by
// message ID: new messages (handled) and duplicates (skipped). Message IDs
// and watermill messages are made before the timer starts.
func BenchmarkInbox(b *testing.B) {
	ctx := context.Background()
	for _, msg := range []string{"new", "duplicate"} {
		b.Run("impl=bulwark/msg="+msg, func(b *testing.B) {
			in := newInbox(b)
			handle := func(context.Context) error { return nil }
			if _, err := in.Process(ctx, "dup", handle); err != nil {
				b.Fatal(err)
			}
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = "dup"
				if msg == "new" {
					ids[i] = strconv.Itoa(i)
				}
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := in.Process(ctx, ids[seq.Add(1)-1], handle); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run("impl=watermill/msg="+msg, func(b *testing.B) {
			h := newDeduplicator(b).Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
			if _, err := h(message.NewMessage("dup", nil)); err != nil {
				b.Fatal(err)
			}
			msgs := make([]*message.Message, b.N)
			dup := message.NewMessage("dup", nil)
			for i := range msgs {
				msgs[i] = dup
				if msg == "new" {
					msgs[i] = message.NewMessage(strconv.Itoa(i), nil)
				}
			}
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h(msgs[seq.Add(1)-1]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// TestRedeliveryAfterFailure shows the difference the benchmark does not:
// after a failed first attempt, bulwark's Inbox runs the redelivered
// message, while watermill's Deduplicator, which records the ID before
// handling, drops it.
func TestRedeliveryAfterFailure(t *testing.T) {
	errDown := errors.New("database down")

	in := newInbox(t)
	runs := 0
	handle := func(context.Context) error {
		runs++
		if runs == 1 {
			return errDown
		}
		return nil
	}
	for range 2 {
		_, _ = in.Process(context.Background(), "m-1", handle)
	}
	if runs != 2 {
		t.Errorf("bulwark: the handler ran %d times, want 2 (the redelivery after the failure runs)", runs)
	}

	wmRuns := 0
	h := newDeduplicator(t).Middleware(func(*message.Message) ([]*message.Message, error) {
		wmRuns++
		if wmRuns == 1 {
			return nil, errDown
		}
		return nil, nil
	})
	for range 2 {
		_, _ = h(message.NewMessage("m-1", nil))
	}
	if wmRuns != 1 {
		t.Errorf("watermill: the handler ran %d times; the comparison above assumes its Deduplicator drops the redelivery", wmRuns)
	}
}
