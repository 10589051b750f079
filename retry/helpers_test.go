package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/require"
)

var (
	errTransient = errors.New("transient")
	errPoison    = errors.New("poison")
)

// retryEvent is one OnRetry call.
type retryEvent struct {
	attempt int
	err     error
	delay   time.Duration
}

// fakeRun drives a Retrier on a fake clock: OnRetry reports each wait, and
// the test moves the clock by exactly that wait once the Retrier sleeps.
type fakeRun struct {
	t      *testing.T
	fc     *clocktest.Fake
	events chan retryEvent
	seen   []retryEvent
}

func newFakeRun(t *testing.T) *fakeRun {
	return &fakeRun{t: t, fc: clocktest.New(epoch), events: make(chan retryEvent)}
}

// config returns cfg wired to the fake clock and OnRetry of fr.
func (fr *fakeRun) config(cfg retry.Config) retry.Config {
	cfg.Clock = fr.fc
	cfg.OnRetry = func(attempt int, err error, delay time.Duration) {
		fr.events <- retryEvent{attempt, err, delay}
	}
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
