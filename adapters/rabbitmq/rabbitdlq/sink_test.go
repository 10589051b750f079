package rabbitdlq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwark-go/bulwark/adapters/rabbitmq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/internal/rabbittest"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/retry/retrytest"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func newSink[T any](t *testing.T, cfg rabbitdlq.Config[T]) *rabbitdlq.Sink[T] {
	t.Helper()
	s, err := rabbitdlq.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func receive(t *testing.T, d <-chan amqp.Delivery, n int) []amqp.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := rabbittest.Receive(ctx, d, n)
	require.NoError(t, err, "received %d of %d", len(got), n)
	return got
}

func TestSinkConformance(t *testing.T) {
	running := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, running) }) // after every connection's cleanup
	url := rabbittest.URL(t)
	retrytest.Run(t, func(t *testing.T) retrytest.Harness {
		q := rabbittest.Queue(t, url, "", nil)
		d := rabbittest.Consume(t, url, q)
		var mu sync.Mutex
		var got []retrytest.Stored
		return retrytest.Harness{
			Sink: newSink(t, rabbitdlq.Config[retrytest.Item]{URL: url, RoutingKey: q}),
			ReadBack: func(ctx context.Context, n int) ([]retrytest.Stored, error) {
				mu.Lock()
				defer mu.Unlock()
				ds, err := rabbittest.Receive(ctx, d, n-len(got))
				for _, m := range ds {
					l, derr := rabbitdlq.Decode(m, func(b []byte) ([]byte, error) { return b, nil })
					if derr != nil {
						return nil, derr
					}
					s := retrytest.Stored{Item: l.Item, Err: l.Err}
					for _, a := range l.Attempts {
						s.Attempts = append(s.Attempts, retrytest.StoredAttempt{Number: a.Number, Start: a.Start, Duration: a.Duration, Delay: a.Delay, Err: a.Err})
					}
					got = append(got, s)
				}
				if err != nil {
					return nil, err
				}
				return got[:n], nil
			},
		}
	})
}

func TestNewValidates(t *testing.T) {
	dial := func(context.Context) (*amqp.Connection, error) { return nil, nil }
	for _, tt := range []struct {
		name string
		cfg  rabbitdlq.Config[int]
		want string
	}{
		{"both", rabbitdlq.Config[int]{URL: "amqp://localhost/", Dial: dial, RoutingKey: "dlq"}, "rabbitdlq: set Config.URL or Config.Dial, not both"},
		{"bad URL", rabbitdlq.Config[int]{URL: "http://x/", RoutingKey: "dlq"}, "rabbitdlq: Config.URL: AMQP scheme must be either 'amqp://' or 'amqps://'"},
		{"long exchange", rabbitdlq.Config[int]{Exchange: strings.Repeat("x", 256)}, "rabbitdlq: Config.Exchange must be at most 255 bytes, got 256"},
		{"long routing key", rabbitdlq.Config[int]{RoutingKey: strings.Repeat("x", 256)}, "rabbitdlq: Config.RoutingKey must be at most 255 bytes, got 256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rabbitdlq.New(tt.cfg)
			assert.EqualError(t, err, tt.want)
		})
	}
}

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

// TestUnroutableLetterStaysWithTheConsumer: a dead-letter queue nobody
// bound makes DeadLetter fail with ErrUnroutable, so retry.Handler returns
// the error instead of reporting the message handled.
func TestUnroutableLetterStaysWithTheConsumer(t *testing.T) {
	url := rabbittest.URL(t)
	x := rabbittest.Exchange(t, url)
	sink := newSink(t, rabbitdlq.Config[order]{URL: url, Exchange: x, RoutingKey: "dlq.orders"})
	r, err := retry.New(retry.Config{MaxAttempts: 2, Backoff: retry.Constant{}})
	require.NoError(t, err)
	poison := errors.New("poison")
	h := retry.Handler(r, sink, func(context.Context, order) error { return poison })
	err = h(context.Background(), order{ID: "o-1"})
	require.Error(t, err, "the message must not count as handled")
	assert.ErrorIs(t, err, rabbitmq.ErrUnroutable)
	assert.ErrorIs(t, err, poison)

	// Once a queue is bound, the same letter is stored.
	q := rabbittest.Queue(t, url, x, nil, "dlq.#")
	d := rabbittest.Consume(t, url, q)
	require.NoError(t, h(context.Background(), order{ID: "o-1", Total: 3}))
	l, err := rabbitdlq.Decode[order](receive(t, d, 1)[0], nil)
	require.NoError(t, err)
	assert.Equal(t, order{ID: "o-1", Total: 3}, l.Item)
	assert.Equal(t, 2, l.AttemptCount)
	assert.Contains(t, l.Err, "poison")
}

// TestLongHistoryFitsOneFrame: a letter with a thousand attempts and long
// errors is stored with its count, the last 200 attempts, and error texts
// cut at a character boundary.
func TestLongHistoryFitsOneFrame(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	d := rabbittest.Consume(t, url, q)
	sink := newSink(t, rabbitdlq.Config[order]{URL: url, RoutingKey: q})
	letter := retry.DeadLetter[order]{Item: order{ID: "big"}}
	long := strings.Repeat("é", 10_000) // 2 bytes each
	for i := range 1000 {
		letter.Attempts = append(letter.Attempts, retry.Attempt{Number: i + 1, Start: time.Unix(int64(i), 0), Err: fmt.Errorf("attempt %d: %s", i+1, long)})
	}
	letter.Err = &retry.Error{Attempts: 1000, Reason: retry.ErrMaxAttempts, Err: letter.Attempts[999].Err}
	require.NoError(t, sink.DeadLetter(context.Background(), letter))
	l, err := rabbitdlq.Decode[order](receive(t, d, 1)[0], nil)
	require.NoError(t, err)
	assert.Equal(t, 1000, l.AttemptCount)
	require.Len(t, l.Attempts, 200)
	assert.Equal(t, 801, l.Attempts[0].Number)
	assert.Equal(t, 1000, l.Attempts[199].Number)
	assert.True(t, strings.HasPrefix(l.Attempts[0].Err, "attempt 801: éé"))
	assert.True(t, strings.HasSuffix(l.Attempts[0].Err, "…(cut)"))
	assert.LessOrEqual(t, len(l.Attempts[0].Err), 256)
	assert.True(t, utf8.ValidString(l.Attempts[0].Err))
	assert.True(t, strings.HasPrefix(l.Err, "retry: gave up after 1000 attempts"))
	assert.LessOrEqual(t, len(l.Err), 8<<10)
	assert.True(t, utf8.ValidString(l.Err))
}

// TestCustomEncoding: Encode and ContentType replace JSON; an item that
// cannot be encoded is an error and nothing is published.
func TestCustomEncoding(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	d := rabbittest.Consume(t, url, q)
	sink := newSink(t, rabbitdlq.Config[order]{URL: url, RoutingKey: q, ContentType: "text/plain",
		Encode: func(o order) ([]byte, error) {
			if o.ID == "" {
				return nil, errors.New("no ID")
			}
			return []byte(o.ID), nil
		}})
	err := sink.DeadLetter(context.Background(), retry.DeadLetter[order]{})
	assert.ErrorContains(t, err, "rabbitdlq: encoding the item: no ID")
	require.NoError(t, sink.DeadLetter(context.Background(), retry.DeadLetter[order]{Item: order{ID: "o-9"}}))
	m := receive(t, d, 1)[0]
	assert.Equal(t, "text/plain", m.ContentType)
	assert.Equal(t, []byte("o-9"), m.Body)
	assert.Equal(t, uint8(amqp.Persistent), m.DeliveryMode)
	l, err := rabbitdlq.Decode(m, func(b []byte) (order, error) { return order{ID: string(b)}, nil })
	require.NoError(t, err)
	assert.Equal(t, "o-9", l.Item.ID)
	assert.NotEmpty(t, l.ID)
}

// TestReconnects: after the sink's connection dies, the next letter is
// stored on a new one.
func TestReconnects(t *testing.T) {
	url := rabbittest.URL(t)
	q := rabbittest.Queue(t, url, "", nil)
	d := rabbittest.Consume(t, url, q)
	sink := newSink(t, rabbitdlq.Config[order]{URL: url, RoutingKey: q})
	require.NoError(t, sink.DeadLetter(context.Background(), retry.DeadLetter[order]{Item: order{ID: "a"}}))
	require.NoError(t, rabbitdlq.SinkConnection(sink).Close())
	require.NoError(t, sink.DeadLetter(context.Background(), retry.DeadLetter[order]{Item: order{ID: "b"}}))
	got := receive(t, d, 2)
	l, err := rabbitdlq.Decode[order](got[1], nil)
	require.NoError(t, err)
	assert.Equal(t, "b", l.Item.ID)
}

func TestDecodeRejectsForeignMessages(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers amqp.Table
		want    string
	}{
		{"no headers", nil, "no int64 bulwark-attempts header"},
		{"no history", amqp.Table{rabbitdlq.AttemptsHeader: int64(1)}, "no bulwark-attempt-history header"},
		{"history longer than count", amqp.Table{rabbitdlq.AttemptsHeader: int64(0), rabbitdlq.HistoryHeader: []any{amqp.Table{}}}, "0 attempts with a history of 1"},
		{"bad attempt", amqp.Table{rabbitdlq.AttemptsHeader: int64(1), rabbitdlq.HistoryHeader: []any{"x"}}, "a string, not a table"},
		{"bad start", amqp.Table{rabbitdlq.AttemptsHeader: int64(1), rabbitdlq.HistoryHeader: []any{amqp.Table{
			"number": int64(1), "start": "noon", "duration-ns": int64(0), "delay-ns": int64(0), "error": "",
		}}}, "bad start"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rabbitdlq.Decode[order](amqp.Delivery{Headers: tt.headers, Body: []byte("{}")}, nil)
			assert.ErrorIs(t, err, rabbitdlq.ErrNotADeadLetter)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err := rabbitdlq.Decode[order](amqp.Delivery{Headers: amqp.Table{rabbitdlq.AttemptsHeader: int64(0), rabbitdlq.HistoryHeader: []any{}}, Body: []byte("{")}, nil)
	assert.ErrorContains(t, err, "decoding letter")
}

// FuzzDecode: any headers decode to a letter or an error, never a panic,
// and a decoded letter never has more attempts than its count.
func FuzzDecode(f *testing.F) {
	f.Add(int64(1), int64(1), "2026-01-02T03:04:05.123456789Z", int64(5), int64(7), "boom", "final", []byte(`{"id":"x"}`))
	f.Add(int64(0), int64(0), "", int64(0), int64(0), "", "", []byte(nil))
	f.Add(int64(-1), int64(2), "not a time", int64(-5), int64(0), "é", "", []byte("{"))
	f.Fuzz(func(t *testing.T, count, number int64, start string, dur, delay int64, attemptErr, final string, body []byte) {
		d := amqp.Delivery{Body: body, Headers: amqp.Table{
			rabbitdlq.AttemptsHeader: count, rabbitdlq.ErrorHeader: final,
			rabbitdlq.HistoryHeader: []any{amqp.Table{"number": number, "start": start, "duration-ns": dur, "delay-ns": delay, "error": attemptErr}},
		}}
		l, err := rabbitdlq.Decode[order](d, nil)
		if err != nil {
			return
		}
		assert.LessOrEqual(t, len(l.Attempts), l.AttemptCount)
		assert.Equal(t, final, l.Err)
		assert.Equal(t, attemptErr, l.Attempts[0].Err)
	})
}

func TestZeroSinkPanics(t *testing.T) {
	assert.PanicsWithValue(t, "rabbitdlq: Sink used without New", func() {
		_ = new(rabbitdlq.Sink[int]).DeadLetter(context.Background(), retry.DeadLetter[int]{})
	})
}

func TestZeroConfigIsTheDefault(t *testing.T) {
	_, err := rabbitdlq.New(rabbitdlq.Config[int]{})
	require.NoError(t, err)
	def := rabbitdlq.DefaultConfig[int]()
	assert.Equal(t, rabbitmq.DefaultURL, def.URL)
	assert.Equal(t, rabbitdlq.DefaultRoutingKey, def.RoutingKey)
	_, err = rabbitdlq.New(def)
	require.NoError(t, err)
}
