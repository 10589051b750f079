package consume_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChainRunsTheFirstMiddlewareOutermost(t *testing.T) {
	var order []string
	mw := func(name string) consume.Middleware {
		return func(next consume.Handler) consume.Handler {
			return consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
				order = append(order, name+">")
				err := next.Handle(ctx, m)
				order = append(order, "<"+name)
				return err
			})
		}
	}
	h := consume.Chain(consume.HandlerFunc(func(context.Context, *consume.Message) error {
		order = append(order, "h")
		return nil
	}), mw("a"), nil, mw("b"))
	require.NoError(t, h.Handle(context.Background(), &consume.Message{}))
	assert.Equal(t, []string{"a>", "b>", "h", "<b", "<a"}, order)
}

func TestWithPolicyRunsTheHandlerUnderThePolicy(t *testing.T) {
	var calls int
	p := bulwark.PolicyFunc(func(ctx context.Context, op func(context.Context) error) error {
		calls++
		if calls == 2 {
			return bulwark.ErrRejected
		}
		return op(ctx)
	})
	ran := 0
	h := consume.Chain(consume.HandlerFunc(func(context.Context, *consume.Message) error { ran++; return nil }), consume.WithPolicy(p))
	require.NoError(t, h.Handle(context.Background(), &consume.Message{}))
	assert.ErrorIs(t, h.Handle(context.Background(), &consume.Message{}), bulwark.ErrRejected)
	assert.Equal(t, 1, ran)
	assert.PanicsWithValue(t, "consume: WithPolicy: p (the Policy) is nil", func() { consume.WithPolicy(nil) })
}

func TestRecoverTurnsAPanicIntoAnError(t *testing.T) {
	boom := errors.New("boom")
	h := consume.Chain(consume.HandlerFunc(func(context.Context, *consume.Message) error { panic(boom) }), consume.Recover())
	err := h.Handle(context.Background(), &consume.Message{})
	var pe *consume.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, boom, pe.Value)
	assert.ErrorIs(t, err, boom)
	assert.Contains(t, string(pe.Stack), "middleware_test.go")
	assert.True(t, strings.HasPrefix(err.Error(), "consume: handler panicked: boom\n"))

	h = consume.Chain(consume.HandlerFunc(func(context.Context, *consume.Message) error { panic("text") }), consume.Recover())
	err = h.Handle(context.Background(), &consume.Message{})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "text", pe.Value)
	assert.Nil(t, errors.Unwrap(err))
}

func TestTimeoutCutsTheHandlerShort(t *testing.T) {
	h := consume.Chain(consume.HandlerFunc(func(ctx context.Context, _ *consume.Message) error {
		<-ctx.Done()
		return ctx.Err()
	}), consume.Timeout(5*time.Millisecond))
	err := h.Handle(context.Background(), &consume.Message{})
	assert.ErrorIs(t, err, consume.ErrTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// The caller's own end is not a timeout.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = h.Handle(ctx, &consume.Message{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, consume.ErrTimeout)

	// A quick handler is untouched.
	ok := consume.Chain(consume.HandlerFunc(func(context.Context, *consume.Message) error { return nil }), consume.Timeout(time.Minute))
	assert.NoError(t, ok.Handle(context.Background(), &consume.Message{}))
	assert.Panics(t, func() { consume.Timeout(0) })
}

type tenantKey struct{}

func TestExtractContextRunsTheHandlerInTheExtractedContext(t *testing.T) {
	var got any
	h := consume.Chain(consume.HandlerFunc(func(ctx context.Context, _ *consume.Message) error {
		got = ctx.Value(tenantKey{})
		return nil
	}), consume.ExtractContext(func(ctx context.Context, headers map[string]string) context.Context {
		return context.WithValue(ctx, tenantKey{}, headers["tenant"])
	}))
	require.NoError(t, h.Handle(context.Background(), &consume.Message{Headers: map[string]string{"tenant": "acme"}}))
	assert.Equal(t, "acme", got)
	assert.Panics(t, func() { consume.ExtractContext(nil) })
}

// fakeInbox is an Inbox over a map, its "transaction" a string.
type fakeInbox struct{ done map[string]bool }

func (in *fakeInbox) Process(ctx context.Context, id string, handle func(ctx context.Context, tx string) error) (bool, error) {
	if in.done[id] {
		return false, nil
	}
	if err := handle(ctx, "tx-"+id); err != nil {
		return false, err
	}
	in.done[id] = true
	return true, nil
}

func TestInboxHandlerRunsEachMessageOnce(t *testing.T) {
	in := &fakeInbox{done: map[string]bool{}}
	var txs []string
	fail := true
	h := consume.InboxHandler[string](in, func(ctx context.Context, tx string, m *consume.Message) error {
		txs = append(txs, tx)
		if fail {
			fail = false
			return errors.New("rolled back")
		}
		return nil
	})
	assert.EqualError(t, h.Handle(context.Background(), &consume.Message{ID: "a"}), "rolled back")
	assert.NoError(t, h.Handle(context.Background(), &consume.Message{ID: "a"}))
	assert.NoError(t, h.Handle(context.Background(), &consume.Message{ID: "a"}), "a duplicate is done")
	assert.Equal(t, []string{"tx-a", "tx-a"}, txs)
	err := h.Handle(context.Background(), &consume.Message{})
	assert.ErrorContains(t, err, "no ID")
	assert.Len(t, txs, 2)
	assert.Panics(t, func() {
		consume.InboxHandler[string](nil, func(context.Context, string, *consume.Message) error { return nil })
	})
	assert.Panics(t, func() { consume.InboxHandler[string](in, nil) })
}

func TestEventKinds(t *testing.T) {
	for ev, kind := range map[bulwark.Event]string{
		consume.Failed{Name: "c"}:       "consume.failed",
		consume.Redelivered{Name: "c"}:  "consume.redelivered",
		consume.DeadLettered{Name: "c"}: "consume.dead_lettered",
		consume.Released{Name: "c"}:     "consume.released",
		consume.Dropped{Name: "c"}:      "consume.dropped",
	} {
		assert.Equal(t, kind, ev.Kind())
		assert.Equal(t, "c", ev.Component())
		assert.Contains(t, ev.LogValue().String(), "id=")
	}
	v := consume.Failed{ID: "m", Err: errors.New("x"), Retry: time.Second}.LogValue().String()
	assert.Contains(t, v, "error=x")
	assert.Contains(t, v, "retry=1s")
}
