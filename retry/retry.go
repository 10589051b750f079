package retry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/cenkalti/backoff/v4"
)

// Unlimited, as Config.MaxAttempts, sets no limit on the number of
// attempts: the call then ends on success, on a non-retryable error, on
// MaxElapsedTime, on the Budget or on the caller's context.
const Unlimited = -1

// The defaults that zero Config fields stand for.
const (
	// DefaultMaxAttempts is Config.MaxAttempts when it is 0.
	DefaultMaxAttempts = 3
	// DefaultMaxDelay is Config.MaxDelay when it is 0: the cap on every
	// wait, including a server's Retry-After hint.
	DefaultMaxDelay = 30 * time.Second
)

// Config configures a Retrier. The zero Config is the default
// configuration (see DefaultConfig): every zero field means the default its
// comment names.
type Config struct {
	// Name names the Retrier in its events (Event.Component).
	Name string
	// Observer receives the Retrier's events: Retried, GaveUp and, through
	// Handler, DeadLettered. nil observes nothing and costs nothing.
	Observer bulwark.Observer

	// MaxAttempts is the most times op runs, the first attempt included:
	// 0 means DefaultMaxAttempts (3), Unlimited sets no limit, otherwise in
	// [1, 1e6]; 1 never retries.
	MaxAttempts int
	// MaxElapsedTime, when > 0, stops retrying once the next wait would end
	// more than MaxElapsedTime after the call began; 0 (the default) sets
	// no such limit. An attempt under way is not cut short (that is
	// AttemptTimeout's job, or the context's). Setting it costs a clock
	// read per call.
	MaxElapsedTime time.Duration
	// Backoff chooses the wait before each retry: Constant, Exponential,
	// Decorrelated or BackOff. nil means Exponential{}: from 100ms,
	// doubling, with full jitter.
	Backoff Backoff
	// MaxDelay caps every wait: the Backoff's, a RetryAfter hint's (an HTTP
	// 503's or 429's) and, with RetryRejected, a rejection's. 0 means
	// DefaultMaxDelay (30s); there is no uncapped setting. Must be >= 0.
	MaxDelay time.Duration
	// AttemptTimeout, when > 0, limits each attempt: op's context ends
	// after AttemptTimeout with cause ErrAttemptTimeout, and the attempt
	// counts as failed and retryable. 0 (the default) sets no limit per
	// attempt; the caller's context deadline still bounds the whole call.
	AttemptTimeout time.Duration
	// RetryRejected, when true, retries an attempt that a policy refused
	// (an error matching bulwark.ErrRejected: an open breaker, a full
	// bulkhead, a rate limit) after the wait the rejection suggests
	// (bulwark.RetryAfter, capped by MaxDelay; the Backoff's wait when it
	// suggests none). Off by default: a rejection ends the call at once
	// with ErrRejected, since the operation did not run and knocking again
	// only adds load.
	RetryRejected bool
	// RetryIf, when set, decides which errors are worth retrying; nil
	// retries every error. Errors marked Permanent are never retried,
	// rejections only with RetryRejected, and timed-out attempts always
	// are, whatever RetryIf says.
	RetryIf func(err error) bool
	// Budget, when set, limits retries across every Retrier that shares it;
	// nil means no budget. It must come from NewBudget.
	Budget *Budget
	// Clock is the time source for waits, timeouts, elapsed time and the
	// comparison with ctx's deadline; nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults that the zero Config stands for,
// spelled out: three attempts, exponential backoff with full jitter from
// 100ms doubling each retry, each wait capped at 30s, rejections not
// retried, no budget, no time limits beyond the caller's context.
func DefaultConfig() Config {
	return Config{
		MaxAttempts: DefaultMaxAttempts,
		Backoff:     Exponential{Initial: DefaultInitial, Multiplier: DefaultMultiplier, Jitter: FullJitter},
		MaxDelay:    DefaultMaxDelay,
	}
}

// Retrier runs operations again when they fail. It keeps no per-call state
// and is safe for concurrent use; build one per downstream and share it.
// The zero Retrier is not usable: make one with New.
type Retrier struct {
	name        string
	observer    bulwark.Observer
	retryIf     func(error) bool
	budget      *Budget
	clock       clock.Clock
	systemClock bool
	cfg         Config
	settings    atomic.Pointer[settings]
}

// settings are what Reconfigure changes: a call reads them once, when it
// starts, and keeps them to its end.
type settings struct {
	maxAttempts    int // 0: no limit
	maxElapsed     time.Duration
	schedule       Backoff
	newBackOff     func() backoff.BackOff
	maxDelay       time.Duration
	attemptTimeout time.Duration
	retryRejected  bool
}

// New returns a Retrier, or an error naming the first invalid setting.
func New(cfg Config) (*Retrier, error) {
	s, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Budget != nil && cfg.Budget.clock == nil {
		return nil, errors.New("retry: Config.Budget must be made by NewBudget")
	}
	r := &Retrier{
		name:     cfg.Name,
		observer: cfg.Observer,
		retryIf:  cfg.RetryIf,
		budget:   cfg.Budget,
		clock:    clock.OrSystem(cfg.Clock),
		cfg:      cfg,
	}
	r.systemClock = r.clock == clock.System
	r.settings.Store(s)
	return r, nil
}

// Reconfigure applies cfg's MaxAttempts, MaxElapsedTime, Backoff, MaxDelay,
// AttemptTimeout and RetryRejected to the calls that start from now on; a
// call already running keeps the settings it started with. cfg is checked
// as New checks it, and an invalid one is refused with the settings left as
// they were. The functions and collaborators given to New (Name, Observer,
// RetryIf, Budget, Clock) stay; cfg's are not read. Safe to call during
// calls.
func (r *Retrier) Reconfigure(cfg Config) error {
	r.check()
	s, err := newSettings(cfg)
	if err != nil {
		return err
	}
	r.settings.Store(s)
	return nil
}

// Settings returns the Config the Retrier runs with now: New's, with the
// settings of the last successful Reconfigure, zero fields spelled out.
func (r *Retrier) Settings() Config {
	r.check()
	s := r.settings.Load()
	cfg := r.cfg
	cfg.MaxAttempts = s.maxAttempts
	if s.maxAttempts == 0 {
		cfg.MaxAttempts = Unlimited
	}
	cfg.MaxElapsedTime, cfg.MaxDelay, cfg.AttemptTimeout, cfg.RetryRejected = s.maxElapsed, s.maxDelay, s.attemptTimeout, s.retryRejected
	cfg.Backoff = s.schedule
	if s.schedule == nil {
		cfg.Backoff = BackOff{New: s.newBackOff}
	}
	return cfg
}

func (r *Retrier) check() {
	if r.clock == nil {
		panic("retry: Retrier used without New")
	}
}

// newSettings checks cfg's settings and turns them into settings.
func newSettings(cfg Config) (*settings, error) {
	switch {
	case cfg.MaxAttempts != Unlimited && (cfg.MaxAttempts < 0 || cfg.MaxAttempts > 1e6):
		return nil, fmt.Errorf("retry: Config.MaxAttempts must be retry.Unlimited or in [1, 1e6], got %d", cfg.MaxAttempts)
	case cfg.MaxElapsedTime < 0:
		return nil, fmt.Errorf("retry: Config.MaxElapsedTime must be >= 0, got %v", cfg.MaxElapsedTime)
	case cfg.MaxDelay < 0:
		return nil, fmt.Errorf("retry: Config.MaxDelay must be >= 0 (0 means %v), got %v", DefaultMaxDelay, cfg.MaxDelay)
	case cfg.AttemptTimeout < 0:
		return nil, fmt.Errorf("retry: Config.AttemptTimeout must be >= 0, got %v", cfg.AttemptTimeout)
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Exponential{}
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return nil, fmt.Errorf("retry: Config.Backoff: %w", err)
	}
	s := &settings{
		maxAttempts:    cfg.MaxAttempts,
		maxElapsed:     cfg.MaxElapsedTime,
		maxDelay:       cmp.Or(cfg.MaxDelay, DefaultMaxDelay),
		attemptTimeout: cfg.AttemptTimeout,
		retryRejected:  cfg.RetryRejected,
	}
	switch s.maxAttempts {
	case 0:
		s.maxAttempts = DefaultMaxAttempts
	case Unlimited:
		s.maxAttempts = 0
	}
	if b, ok := cfg.Backoff.(BackOff); ok {
		s.newBackOff = b.New
	} else {
		s.schedule = cfg.Backoff
	}
	return s, nil
}

// Do runs op, and runs it again after a wait each time it fails, until it
// succeeds or Do gives up. It returns nil on success; after giving up, an
// *Error wrapping the reason and op's last error. If ctx is done before the
// first attempt, op does not run and Do returns ctx.Err() wrapped.
//
// Do gives up at once, without waiting, when op's error:
//   - is marked Permanent, or RetryIf rejects it (ErrNotRetryable);
//   - matches bulwark.ErrRejected and Config.RetryRejected is off
//     (ErrRejected): the returned error still matches the rejection;
//   - would need a wait that ends at or after ctx's deadline (ErrDeadline).
//
// Each wait is the Backoff's, or the hint of an error with a
// RetryAfter() time.Duration method anywhere in its tree (bulwark.RetryAfter),
// and never longer than Config.MaxDelay. A cancelled ctx ends a wait at
// once.
//
// A first-attempt success allocates nothing and reads no clock unless
// MaxElapsedTime or AttemptTimeout is set. Do panics on a Retrier not made
// by New.
func (r *Retrier) Do(ctx context.Context, op func(context.Context) error) error {
	return r.do(ctx, op, nil)
}

// do is Do, recording each attempt in hist when hist is not nil.
func (r *Retrier) do(ctx context.Context, op func(context.Context) error, hist *[]Attempt) error {
	r.check()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("retry: not attempted: %w", err)
	}
	if r.budget != nil {
		r.budget.deposit()
	}
	s := r.settings.Load()
	var start time.Time
	if s.maxElapsed > 0 {
		start = r.clock.Now()
	}
	err := r.attempt(ctx, s, op, hist)
	if err == nil {
		return nil
	}
	return r.retry(ctx, s, op, err, start, hist)
}

// retry is the loop after a failed first attempt, kept apart so that Do's
// success path stays small.
func (r *Retrier) retry(ctx context.Context, s *settings, op func(context.Context) error, err error, start time.Time, hist *[]Attempt) error {
	var (
		n    = 1 // attempts made
		prev time.Duration
		bo   backoff.BackOff
	)
	for {
		reason := r.classify(ctx, s, err)
		if reason == nil && s.maxAttempts > 0 && n >= s.maxAttempts {
			reason = ErrMaxAttempts
		}
		var delay time.Duration
		if reason == nil {
			delay, reason = s.nextDelay(n, &prev, &bo, err)
		}
		if reason == nil {
			reason = r.checkTime(ctx, s, start, delay)
		}
		if reason == nil && r.budget != nil && !r.budget.withdraw() {
			reason = ErrBudgetExhausted
		}
		if reason != nil {
			return r.giveUp(ctx, n, reason, err)
		}
		if hist != nil {
			(*hist)[n-1].Delay = delay
		}
		if r.observer != nil {
			r.observer.Observe(ctx, Retried{Name: r.name, Attempt: n, Err: err, Delay: delay})
		}
		if werr := clock.Sleep(ctx, r.clock, delay); werr != nil {
			return r.giveUp(ctx, n, werr, err)
		}
		n++
		if err = r.attempt(ctx, s, op, hist); err == nil {
			return nil
		}
	}
}

// nextDelay returns the wait before retry n, capped by MaxDelay, or
// ErrBackoffStopped. prev and bo are the call's Backoff state: the
// schedule's previous delay, or the BackOff made for the call on its first
// retry. A RetryAfter hint in err overrides the Backoff.
func (s *settings) nextDelay(n int, prev *time.Duration, bo *backoff.BackOff, err error) (time.Duration, error) {
	var delay time.Duration
	if s.schedule != nil {
		delay = s.schedule.Wait(n, *prev, s.maxDelay)
	} else {
		if *bo == nil {
			*bo = s.newBackOff()
			(*bo).Reset()
		}
		if delay = (*bo).NextBackOff(); delay == backoff.Stop {
			return 0, ErrBackoffStopped
		}
	}
	if hint, ok := bulwark.RetryAfter(err); ok {
		delay = hint
	}
	delay = min(max(delay, 0), s.maxDelay)
	*prev = delay
	return delay, nil
}

// checkTime returns why a wait of delay would be in vain: it would pass
// MaxElapsedTime since start, or end at or after ctx's deadline. It reads
// the clock only when one of the two is set.
func (r *Retrier) checkTime(ctx context.Context, s *settings, start time.Time, delay time.Duration) error {
	deadline, hasDeadline := ctx.Deadline()
	if s.maxElapsed <= 0 && (!hasDeadline || delay == 0) {
		return nil
	}
	now := r.clock.Now()
	if s.maxElapsed > 0 && now.Sub(start)+delay > s.maxElapsed {
		return ErrMaxElapsedTime
	}
	if hasDeadline && delay > 0 && !now.Add(delay).Before(deadline) {
		return ErrDeadline
	}
	return nil
}

// classify returns why err ends the call, or nil if it may be retried.
func (r *Retrier) classify(ctx context.Context, s *settings, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if IsPermanent(err) {
		return ErrNotRetryable
	}
	if _, timedOut := err.(*attemptTimeoutError); timedOut {
		return nil
	}
	if !s.retryRejected && errors.Is(err, bulwark.ErrRejected) {
		return ErrRejected
	}
	if r.retryIf != nil && !r.retryIf(err) {
		return ErrNotRetryable
	}
	return nil
}

func (r *Retrier) giveUp(ctx context.Context, attempts int, reason, err error) *Error {
	e := &Error{Attempts: attempts, Reason: reason, Err: err, chain: [2]error{reason, err}}
	if r.observer != nil {
		r.observer.Observe(ctx, GaveUp{Name: r.name, Attempts: attempts, Reason: reason, Err: err})
	}
	return e
}

// attempt runs op once, under AttemptTimeout if set, and records it in hist.
func (r *Retrier) attempt(ctx context.Context, s *settings, op func(context.Context) error, hist *[]Attempt) error {
	if hist == nil {
		return r.run(ctx, s.attemptTimeout, op)
	}
	began := r.clock.Now()
	err := r.run(ctx, s.attemptTimeout, op)
	*hist = append(*hist, Attempt{Number: len(*hist) + 1, Start: began, Duration: r.clock.Now().Sub(began), Err: err})
	return err
}

func (r *Retrier) run(ctx context.Context, attemptTimeout time.Duration, op func(context.Context) error) error {
	switch {
	case attemptTimeout <= 0:
		return op(ctx)
	case r.systemClock:
		actx, cancel := context.WithTimeoutCause(ctx, attemptTimeout, ErrAttemptTimeout)
		defer cancel()
		err := op(actx)
		if err != nil && ctx.Err() == nil && context.Cause(actx) == ErrAttemptTimeout {
			return &attemptTimeoutError{attemptTimeout, err}
		}
		return err
	default:
		return r.runOnClock(ctx, attemptTimeout, op)
	}
}

// runOnClock runs op under AttemptTimeout measured on a clock other than the
// system's (a test's fake clock), whose timers a context cannot use: a
// goroutine, joined before returning, cancels op's context when the timer
// fires.
func (r *Retrier) runOnClock(ctx context.Context, attemptTimeout time.Duration, op func(context.Context) error) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := r.clock.NewTimer(attemptTimeout)
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
		return &attemptTimeoutError{attemptTimeout, err}
	}
	return err
}
