package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/require"
)

var (
	errTransient = errors.New("transient")
	errPoison    = errors.New("poison")
)

// retryEvent is one Retried event.
type retryEvent struct {
	attempt int
	err     error
	delay   time.Duration
}

// fakeRun drives a Retrier on a fake clock: its Observer reports each wait,
// and the test moves the clock by exactly that wait once the Retrier sleeps.
type fakeRun struct {
	t      *testing.T
	fc     *clocktest.Fake
	events chan retryEvent
	seen   []retryEvent
}

func newFakeRun(t *testing.T) *fakeRun {
	return &fakeRun{t: t, fc: clocktest.New(epoch), events: make(chan retryEvent)}
}

// config returns cfg wired to the fake clock and the Observer of fr, which
// passes every other event on to cfg's own Observer.
func (fr *fakeRun) config(cfg retry.Config) retry.Config {
	cfg.Clock = fr.fc
	next := cfg.Observer
	cfg.Observer = bulwark.ObserverFunc(func(ctx context.Context, e bulwark.Event) {
		if r, ok := e.(retry.Retried); ok {
			fr.events <- retryEvent{r.Attempt, r.Err, r.Delay}
			return
		}
		if next != nil {
			next.Observe(ctx, e)
		}
	})
	return cfg
}

func (fr *fakeRun) retrier(cfg retry.Config) *retry.Retrier {
	r, err := retry.New(fr.config(cfg))
	require.NoError(fr.t, err)
	return r
}

// do runs r.Do(ctx, op), advancing the fake clock through every wait, and
// returns Do's error.
func (fr *fakeRun) do(ctx context.Context, r *retry.Retrier, op func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- r.Do(ctx, op) }()
	return fr.drive(done)
}

func (fr *fakeRun) drive(done <-chan error) error {
	for {
		select {
		case err := <-done:
			return err
		case ev := <-fr.events:
			fr.seen = append(fr.seen, ev)
			if ev.delay > 0 {
				fr.fc.BlockUntil(1)
				fr.fc.Advance(ev.delay)
			}
		}
	}
}

func (fr *fakeRun) delays() []time.Duration {
	var out []time.Duration
	for _, ev := range fr.seen {
		out = append(out, ev.delay)
	}
	return out
}

// failing returns an op that fails with err the first n times, then
// succeeds, and a pointer to the number of calls.
func failing(n int, err error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= n {
			return err
		}
		return nil
	}, &calls
}

// hinted is an error that knows when to try again.
type hinted struct{ after time.Duration }

func (h hinted) Error() string             { return "try again in " + h.after.String() }
func (h hinted) RetryAfter() time.Duration { return h.after }

func giveUpError(t *testing.T, err error) *retry.Error {
	t.Helper()
	var e *retry.Error
	require.ErrorAs(t, err, &e)
	return e
}

// rejection is a policy's refusal, as an open breaker's error: it matches
// bulwark.ErrRejected and may suggest when to try again.
type rejection struct{ after time.Duration }

func (r rejection) Error() string             { return "circuit open" }
func (r rejection) Is(target error) bool      { return target == bulwark.ErrRejected }
func (r rejection) RetryAfter() time.Duration { return r.after }

// recorder collects a Retrier's events.
type recorder struct {
	mu     sync.Mutex
	events []bulwark.Event
}

func (r *recorder) Observe(_ context.Context, e bulwark.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []bulwark.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bulwark.Event(nil), r.events...)
}

// counting returns an Observer that counts Retried and GaveUp events.
func counting(retries, giveUps *int) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		switch e.(type) {
		case retry.Retried:
			*retries++
		case retry.GaveUp:
			*giveUps++
		}
	})
}
