package retry

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/cenkalti/backoff/v4"
)

// Config configures a Retrier. Start from DefaultConfig.
type Config struct {
	// MaxAttempts is the most times op runs, the first attempt included, in
	// [0, 1e6]; 1 never retries. 0 sets no limit: the call then ends on
	// success, on MaxElapsedTime, on the budget or on the caller's context.
	MaxAttempts int
	// MaxElapsedTime, when > 0, stops retrying once the next wait would end
	// more than MaxElapsedTime after the call began. An attempt under way
	// is not cut short (that is AttemptTimeout's job, or the context's).
	// Setting it costs a clock read per call.
	MaxElapsedTime time.Duration
	// Backoff chooses the wait before each retry: Constant, Exponential,
	// Decorrelated or BackOff. It must be set.
	Backoff Backoff
	// MaxDelay, when > 0, caps every wait: the Backoff's and a RetryAfter
	// hint's.
	MaxDelay time.Duration
	// AttemptTimeout, when > 0, limits each attempt: op's context ends
	// after AttemptTimeout with cause ErrAttemptTimeout, and the attempt
	// counts as failed and retryable. The caller's context deadline still
	// bounds the whole call.
	AttemptTimeout time.Duration
	// RetryIf, when set, decides which errors are worth retrying; nil
	// retries every error. Errors marked Permanent are never retried and
	// timed-out attempts always are, whatever RetryIf says.
	RetryIf func(err error) bool
	// Budget, when set, limits retries across every Retrier that shares it.
	Budget *Budget
	// OnRetry, when set, is called before each wait with the number of the
	// attempt that failed (1 for the first), its error and the wait chosen.
	OnRetry func(attempt int, err error, delay time.Duration)
	// OnGiveUp, when set, is called with the error Do is about to return
	// when it gives up after running op.
	OnGiveUp func(err *Error)
	// Clock is the time source for waits, timeouts and elapsed time; nil
	// means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns three attempts with exponential backoff and full
// jitter from 100ms, each wait capped at 10s, and no budget.
func DefaultConfig() Config {
	return Config{
		MaxAttempts: 3,
		Backoff:     Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: FullJitter},
		MaxDelay:    10 * time.Second,
	}
}

// Retrier runs operations again when they fail. It keeps no per-call state
// and is safe for concurrent use; build one per downstream and share it.
type Retrier struct {
	maxAttempts    int
	maxElapsed     time.Duration
	schedule       schedule
	newBackOff     func() backoff.BackOff
	maxDelay       time.Duration
	attemptTimeout time.Duration
	retryIf        func(error) bool
	budget         *Budget
	onRetry        func(int, error, time.Duration)
	onGiveUp       func(*Error)
	clock          clock.Clock
	systemClock    bool
}

// New returns a Retrier, or an error naming the first invalid setting.
func New(cfg Config) (*Retrier, error) {
	switch {
	case cfg.MaxAttempts < 0 || cfg.MaxAttempts > 1e6:
		return nil, fmt.Errorf("retry: Config.MaxAttempts must be in [0, 1e6], got %d", cfg.MaxAttempts)
	case cfg.MaxElapsedTime < 0:
		return nil, fmt.Errorf("retry: Config.MaxElapsedTime must be >= 0, got %v", cfg.MaxElapsedTime)
	case cfg.Backoff == nil:
		return nil, fmt.Errorf("retry: Config.Backoff must be set (Constant, Exponential, Decorrelated or BackOff)")
	case cfg.MaxDelay < 0:
		return nil, fmt.Errorf("retry: Config.MaxDelay must be >= 0, got %v", cfg.MaxDelay)
	case cfg.AttemptTimeout < 0:
		return nil, fmt.Errorf("retry: Config.AttemptTimeout must be >= 0, got %v", cfg.AttemptTimeout)
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return nil, fmt.Errorf("retry: Config.Backoff: %w", err)
	}
	r := &Retrier{
		maxAttempts:    cfg.MaxAttempts,
		maxElapsed:     cfg.MaxElapsedTime,
		maxDelay:       cfg.MaxDelay,
		attemptTimeout: cfg.AttemptTimeout,
		retryIf:        cfg.RetryIf,
		budget:         cfg.Budget,
		onRetry:        cfg.OnRetry,
		onGiveUp:       cfg.OnGiveUp,
		clock:          clock.OrSystem(cfg.Clock),
	}
	r.systemClock = r.clock == clock.System
	if b, ok := cfg.Backoff.(BackOff); ok {
		r.newBackOff = b.New
	} else {
		r.schedule = cfg.Backoff.(schedule)
	}
	return r, nil
}

// Do runs op, and runs it again after a wait each time it fails, until it
// succeeds or Do gives up. It returns nil on success; after giving up, an
// *Error wrapping the reason and op's last error. If ctx is done before the
// first attempt, op does not run and Do returns ctx.Err() wrapped.
//
// A cancelled ctx ends a wait at once. An error with a
// RetryAfter() time.Duration method anywhere in its tree sets the next wait
// (capped by MaxDelay) in place of the Backoff's.
//
// A first-attempt success allocates nothing and reads no clock unless
// MaxElapsedTime or AttemptTimeout is set.
func (r *Retrier) Do(ctx context.Context, op func(context.Context) error) error {
	return r.do(ctx, op, nil)
}

// do is Do, recording each attempt in hist when hist is not nil.
func (r *Retrier) do(ctx context.Context, op func(context.Context) error, hist *[]Attempt) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("retry: not attempted: %w", err)
	}
	if r.budget != nil {
		r.budget.deposit()
	}
	var start time.Time
	if r.maxElapsed > 0 {
		start = r.clock.Now()
	}
	err := r.attempt(ctx, op, hist)
	if err == nil {
		return nil
	}
	return r.retry(ctx, op, err, start, hist)
}

// retry is the loop after a failed first attempt, kept apart so that Do's
// success path stays small.
func (r *Retrier) retry(ctx context.Context, op func(context.Context) error, err error, start time.Time, hist *[]Attempt) error {
	var (
		n    = 1 // attempts made
		prev time.Duration
		bo   backoff.BackOff
	)
	for {
		reason := r.classify(ctx, err)
		if reason == nil && r.maxAttempts > 0 && n >= r.maxAttempts {
			reason = ErrMaxAttempts
		}
		var delay time.Duration
		if reason == nil {
			delay, reason = r.nextDelay(n, &prev, &bo, err)
		}
		if reason == nil && r.maxElapsed > 0 && r.clock.Now().Sub(start)+delay > r.maxElapsed {
			reason = ErrMaxElapsedTime
		}
		if reason == nil && r.budget != nil && !r.budget.withdraw() {
			reason = ErrBudgetExhausted
		}
		if reason != nil {
			return r.giveUp(n, reason, err)
		}
		if hist != nil {
			(*hist)[n-1].Delay = delay
		}
		if r.onRetry != nil {
			r.onRetry(n, err, delay)
		}
		if werr := clock.Sleep(ctx, r.clock, delay); werr != nil {
			return r.giveUp(n, werr, err)
		}
		n++
		if err = r.attempt(ctx, op, hist); err == nil {
			return nil
		}
	}
}

// nextDelay returns the wait before retry n, or ErrBackoffStopped. prev and
// bo are the call's Backoff state: the schedule's previous delay, or the
// BackOff made for the call on its first retry. A RetryAfter hint in err
// overrides the Backoff.
func (r *Retrier) nextDelay(n int, prev *time.Duration, bo *backoff.BackOff, err error) (time.Duration, error) {
	var delay time.Duration
	if r.schedule != nil {
		delay = r.schedule.Wait(n, *prev, r.maxDelay)
		*prev = delay
	} else {
		if *bo == nil {
			*bo = r.newBackOff()
			(*bo).Reset()
		}
		if delay = (*bo).NextBackOff(); delay == backoff.Stop {
			return 0, ErrBackoffStopped
		}
	}
	if hint, ok := retryAfter(err); ok {
		delay = hint
	}
	return capped(delay, r.maxDelay), nil
}

// classify returns why err ends the call, or nil if it may be retried.
func (r *Retrier) classify(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if IsPermanent(err) {
		return ErrNotRetryable
	}
	if _, timedOut := err.(*attemptTimeoutError); timedOut {
		return nil
	}
	if r.retryIf != nil && !r.retryIf(err) {
		return ErrNotRetryable
	}
	return nil
}

func (r *Retrier) giveUp(attempts int, reason, err error) *Error {
	e := &Error{Attempts: attempts, Reason: reason, Err: err, chain: [2]error{reason, err}}
	if r.onGiveUp != nil {
		r.onGiveUp(e)
	}
	return e
}

// attempt runs op once, under AttemptTimeout if set, and records it in hist.
func (r *Retrier) attempt(ctx context.Context, op func(context.Context) error, hist *[]Attempt) error {
	if hist == nil {
		return r.run(ctx, op)
	}
	began := r.clock.Now()
	err := r.run(ctx, op)
	*hist = append(*hist, Attempt{Number: len(*hist) + 1, Start: began, Duration: r.clock.Now().Sub(began), Err: err})
	return err
}

func (r *Retrier) run(ctx context.Context, op func(context.Context) error) error {
	switch {
	case r.attemptTimeout <= 0:
		return op(ctx)
	case r.systemClock:
		actx, cancel := context.WithTimeoutCause(ctx, r.attemptTimeout, ErrAttemptTimeout)
		defer cancel()
		err := op(actx)
		if err != nil && ctx.Err() == nil && context.Cause(actx) == ErrAttemptTimeout {
			return &attemptTimeoutError{r.attemptTimeout, err}
		}
		return err
	default:
		return r.runOnClock(ctx, op)
	}
}

// runOnClock runs op under AttemptTimeout measured on a clock other than the
// system's (a test's fake clock), whose timers a context cannot use: a
// goroutine, joined before returning, cancels op's context when the timer
// fires.
func (r *Retrier) runOnClock(ctx context.Context, op func(context.Context) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := r.clock.NewTimer(r.attemptTimeout)
	defer timer.Stop()
	done, fired := make(chan struct{}), make(chan bool, 1)
	go func() {
		select {
		case <-timer.C():
			cancel(ErrAttemptTimeout)
			fired <- true
		case <-done:
			fired <- false
		}
	}()
	err := op(actx)
	close(done)
	if timedOut := <-fired; timedOut && err != nil && ctx.Err() == nil {
		return &attemptTimeoutError{r.attemptTimeout, err}
	}
	return err
}
