// Package retrytest holds the conformance suite for retry.DeadLetterSink
// implementations: Run. Every sink in bulwark (MemorySink, the broker and
// table sinks of the adapter modules) runs it, so what "stored" means is
// specified once and holds for all of them.
//
// The suite depends only on package retry, testify and the standard
// library, so a sink in any module runs it from an ordinary test:
//
//	func TestConformance(t *testing.T) {
//		retrytest.Run(t, func(t *testing.T) retrytest.Harness {
//			q := newQueue(t) // fresh storage of the test's own
//			return retrytest.Harness{Sink: mysink.New(q), ReadBack: q.readBack}
//		})
//	}
//
// It promises that a sink keeps every letter it accepted — the item, the
// final error's text and every attempt's number, start, duration, error
// text and delay (times to the microsecond) — across many concurrent
// writers and with any text, and that a cancelled or expired context makes
// DeadLetter fail with the context's error instead of claiming a letter
// was stored.
package retrytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Item is what the suite dead-letters. Its JSON form is
// {"id":"…","body":"…","n":…}.
type Item struct {
	ID   string `json:"id"`
	Body string `json:"body"`
	N    int    `json:"n"`
}

// Stored is a dead letter as a sink's storage holds it, read back by the
// harness: the encoded item, the text of the final error, and the history
// of every attempt.
type Stored struct {
	// Item is the item as the sink encoded it.
	Item []byte
	// Err is the text of DeadLetter.Err.
	Err string
	// Attempts is the attempt history, in order.
	Attempts []StoredAttempt
}

// StoredAttempt is one retry.Attempt as stored: its error as text.
type StoredAttempt struct {
	Number   int
	Start    time.Time
	Duration time.Duration
	Err      string
	Delay    time.Duration
}

// Harness is what a sink gives Run for one test: a sink
// writing to fresh storage (a queue, topic or table of the test's own), and
// a way to read back what that storage holds.
type Harness struct {
	// Sink is the sink under test.
	Sink retry.DeadLetterSink[Item]
	// ReadBack waits until the storage holds at least n letters and returns
	// the first n in the order they were stored, or fails when ctx is done.
	// It may be called again with a larger n; letters it returned before
	// are returned again.
	ReadBack func(ctx context.Context, n int) ([]Stored, error)
	// DecodeItem turns Stored.Item back into an Item; nil means
	// encoding/json (the sink encodes items as JSON).
	DecodeItem func([]byte) (Item, error)
}

// Run runs the dead-letter sink conformance suite, one subtest per
// promise. newHarness is called once per subtest and must return a sink on
// empty storage.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"ThroughHandler", testThroughHandler},
		{"ManyAttemptsAndOddText", testManyAttempts},
		{"ZeroItemAndNoCause", testZeroItem},
		{"ConcurrentLetters", testConcurrent},
		{"CancelledContext", testCancelled},
		{"ExpiredContext", testExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.DecodeItem == nil {
				h.DecodeItem = func(b []byte) (Item, error) {
					var it Item
					err := json.Unmarshal(b, &it)
					return it, err
				}
			}
			tc.test(t, h)
		})
	}
}

// base is the suite's "now", truncated to microseconds: the precision every
// storage keeps.
var base = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

func readBack(t *testing.T, h Harness, n int) []Stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := h.ReadBack(ctx, n)
	require.NoError(t, err, "reading back %d letters", n)
	require.Len(t, got, n)
	return got
}

// assertStored checks that s holds letter exactly; times to the microsecond.
func assertStored(t *testing.T, h Harness, letter retry.DeadLetter[Item], s Stored) {
	t.Helper()
	item, err := h.DecodeItem(s.Item)
	require.NoError(t, err, "decoding the stored item %q", s.Item)
	assert.Equal(t, letter.Item, item, "item")
	want := ""
	if letter.Err != nil {
		want = letter.Err.Error()
	}
	assert.Equal(t, want, s.Err, "final error")
	require.Len(t, s.Attempts, len(letter.Attempts), "attempts")
	for i, a := range letter.Attempts {
		got := s.Attempts[i]
		assert.Equal(t, a.Number, got.Number, "attempt %d: number", i+1)
		assert.WithinDuration(t, a.Start, got.Start, time.Microsecond, "attempt %d: start", i+1)
		assert.InDelta(t, a.Duration, got.Duration, float64(time.Microsecond), "attempt %d: duration", i+1)
		assert.InDelta(t, a.Delay, got.Delay, float64(time.Microsecond), "attempt %d: delay", i+1)
		wantErr := ""
		if a.Err != nil {
			wantErr = a.Err.Error()
		}
		assert.Equal(t, wantErr, got.Err, "attempt %d: error", i+1)
	}
}

// letter builds a dead letter the way retry.Handler does: attempts
// numbered from 1, an *retry.Error wrapping the reason and the last error.
func letter(item Item, errs ...error) retry.DeadLetter[Item] {
	l := retry.DeadLetter[Item]{Item: item}
	at := base
	for i, e := range errs {
		a := retry.Attempt{Number: i + 1, Start: at, Duration: time.Duration(i+1) * 1500 * time.Microsecond, Err: e}
		if i < len(errs)-1 {
			a.Delay = time.Duration(1<<i) * 100 * time.Millisecond
		}
		at = at.Add(a.Duration + a.Delay)
		l.Attempts = append(l.Attempts, a)
	}
	if len(errs) > 0 {
		l.Err = &retry.Error{Attempts: len(errs), Reason: retry.ErrMaxAttempts, Err: errs[len(errs)-1]}
	}
	return l
}

func testRoundTrip(t *testing.T, h Harness) {
	l := letter(Item{ID: "order-1", Body: `{"total":42}`, N: 7},
		errors.New("dial tcp 10.0.0.7:443: connection refused"),
		errors.New("inventory: 503 service unavailable"),
		errors.New("context deadline exceeded"))
	require.NoError(t, h.Sink.DeadLetter(context.Background(), l))
	assertStored(t, h, l, readBack(t, h, 1)[0])
}

// testThroughHandler dead-letters a message the way a consumer does, with a
// real Retrier, and checks the sink keeps what the Handler gave it.
func testThroughHandler(t *testing.T, h Harness) {
	var got []retry.DeadLetter[Item]
	var mu sync.Mutex
	rec := sinkFunc(func(ctx context.Context, l retry.DeadLetter[Item]) error {
		if err := h.Sink.DeadLetter(ctx, l); err != nil {
			return err
		}
		mu.Lock()
		got = append(got, l)
		mu.Unlock()
		return nil
	})
	r, err := retry.New(retry.Config{MaxAttempts: 3, Backoff: retry.Constant{Delay: time.Millisecond}})
	require.NoError(t, err)
	calls := 0
	handle := retry.Handler(r, rec, func(ctx context.Context, it Item) error {
		calls++
		return fmt.Errorf("payment declined for %s (try %d)", it.ID, calls)
	})
	require.NoError(t, handle(context.Background(), Item{ID: "order-2", Body: "poison"}), "a stored letter makes the message handled")
	require.Len(t, got, 1)
	s := readBack(t, h, 1)[0]
	assertStored(t, h, got[0], s)
	assert.Len(t, s.Attempts, 3)
	assert.Contains(t, s.Err, "max attempts")
	assert.Contains(t, s.Err, "payment declined for order-2 (try 3)")
}

func testManyAttempts(t *testing.T, h Harness) {
	var errs []error
	for i := range 20 {
		errs = append(errs, fmt.Errorf("attempt %d: line one\nline two: ünïcödé ✓ \"quoted\" \t tab; %s", i+1, strings.Repeat("x", i*10)))
	}
	l := letter(Item{ID: "ïd/with spaces\n", Body: strings.Repeat("body ", 2000), N: -1}, errs...)
	require.NoError(t, h.Sink.DeadLetter(context.Background(), l))
	assertStored(t, h, l, readBack(t, h, 1)[0])
}

func testZeroItem(t *testing.T, h Harness) {
	// A letter whose only attempt has a nil error and no final error is
	// odd but legal: the sink stores it with empty error texts.
	l := retry.DeadLetter[Item]{Attempts: []retry.Attempt{{Number: 1, Start: base}}}
	require.NoError(t, h.Sink.DeadLetter(context.Background(), l))
	assertStored(t, h, l, readBack(t, h, 1)[0])
}

func testConcurrent(t *testing.T, h Harness) {
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := w*each + i
				l := letter(Item{ID: fmt.Sprint("item-", n), N: n}, fmt.Errorf("failure of %d", n))
				if err := h.Sink.DeadLetter(context.Background(), l); err != nil {
					errs <- fmt.Errorf("letter %d: %w", n, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	seen := make(map[int]int)
	for _, s := range readBack(t, h, writers*each) {
		item, err := h.DecodeItem(s.Item)
		require.NoError(t, err)
		seen[item.N]++
		assert.Equal(t, fmt.Sprint("item-", item.N), item.ID)
		assert.Equal(t, fmt.Sprintf("retry: gave up after 1 attempt (max attempts reached): failure of %d", item.N), s.Err)
		if assert.Len(t, s.Attempts, 1) {
			assert.Equal(t, fmt.Sprint("failure of ", item.N), s.Attempts[0].Err)
		}
	}
	for n := range writers * each {
		assert.Equal(t, 1, seen[n], "letter %d stored %d times", n, seen[n])
	}
}

func testCancelled(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := h.Sink.DeadLetter(ctx, letter(Item{ID: "cancelled"}, errors.New("boom")))
	assert.Less(t, time.Since(start), 5*time.Second, "DeadLetter returns promptly")
	require.Error(t, err, "a cancelled DeadLetter must not claim the letter was stored")
	assert.ErrorIs(t, err, context.Canceled)
}

func testExpired(t *testing.T, h Harness) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	start := time.Now()
	err := h.Sink.DeadLetter(ctx, letter(Item{ID: "expired"}, errors.New("boom")))
	assert.Less(t, time.Since(start), 5*time.Second, "DeadLetter returns promptly")
	require.Error(t, err, "an expired DeadLetter must not claim the letter was stored")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

type sinkFunc func(context.Context, retry.DeadLetter[Item]) error

func (f sinkFunc) DeadLetter(ctx context.Context, l retry.DeadLetter[Item]) error { return f(ctx, l) }
