package timeout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// ErrTimeout matches (with errors.Is) every error Do returns because a call
// ran out of time. Those errors match context.DeadlineExceeded too.
var ErrTimeout = errors.New("timeout: deadline exceeded")

// DefaultTimeout is Config.Timeout when it is 0.
const DefaultTimeout = 10 * time.Second

// Config configures a Timeout. The zero Config is the default
// configuration (see DefaultConfig): every zero field means the default its
// comment names.
type Config struct {
	// Name names the Timeout in its events (Event.Component).
	Name string
	// Observer receives the Timeout's events (TimedOut). nil observes
	// nothing and costs nothing.
	Observer bulwark.Observer

	// Timeout is how long one call may run, from the moment Do starts it:
	// 0 means DefaultTimeout (10s), otherwise > 0.
	Timeout time.Duration

	// Detach makes Do return at the deadline even when op ignores its
	// context: op then runs in a goroutine of its own and is left behind,
	// still running, when the deadline passes (see the package doc). Off by
	// default: Do runs op on the caller's goroutine and waits for it.
	Detach bool

	// Logger receives a detached op's panic raised after Do returned (there
	// is no caller left to panic into). nil means slog.Default().
	Logger *slog.Logger

	// Clock measures the deadline. nil means clock.System.
	Clock clock.Clock
}

// DefaultConfig returns the defaults that the zero Config stands for,
// spelled out: a 10 second timeout, waiting for ops that ignore their
// context.
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout}
}

// Timeout bounds the duration of calls. It is safe for concurrent use. The
// zero Timeout is not usable: make one with New.
type Timeout struct {
	name     string
	observer bulwark.Observer
	logger   *slog.Logger
	clock    clock.Clock
	system   bool // clock is clock.System: deadlines are the runtime's timers
	cfg      Config
	settings atomic.Pointer[settings]
}

// settings are what Reconfigure changes: each call reads them once, when it
// starts, and keeps them to its end.
type settings struct {
	timeout time.Duration
	detach  bool
	cause   error // context.Cause of a context this Timeout ended
}

// New returns a Timeout, or an error naming the first invalid field of cfg.
func New(cfg Config) (*Timeout, error) {
	s, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	c := clock.OrSystem(cfg.Clock)
	t := &Timeout{
		name:     cfg.Name,
		observer: cfg.Observer,
		logger:   logger,
		clock:    c,
		system:   c == clock.System,
		cfg:      cfg,
	}
	t.settings.Store(s)
	return t, nil
}

func newSettings(cfg Config) (*settings, error) {
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("timeout: Config.Timeout must be >= 0 (0 means %v), got %v", DefaultTimeout, cfg.Timeout)
	}
	d := cfg.Timeout
	if d == 0 {
		d = DefaultTimeout
	}
	return &settings{timeout: d, detach: cfg.Detach, cause: &causeError{timeout: d}}, nil
}

// Reconfigure applies cfg's Timeout and Detach to the calls that start from
// now on; a call already running keeps the settings it started with. cfg is
// checked as New checks it, and an invalid one is refused with the settings
// left as they were. The collaborators given to New (Name, Observer,
// Logger, Clock) stay; cfg's are not read. Safe to call during calls.
func (t *Timeout) Reconfigure(cfg Config) error {
	if t.clock == nil {
		panic("timeout: Timeout used without New")
	}
	s, err := newSettings(cfg)
	if err != nil {
		return err
	}
	t.settings.Store(s)
	return nil
}

// Settings returns the Config the Timeout runs with now: New's, with the
// settings of the last successful Reconfigure.
func (t *Timeout) Settings() Config {
	if t.clock == nil {
		panic("timeout: Timeout used without New")
	}
	s := t.settings.Load()
	cfg := t.cfg
	cfg.Timeout, cfg.Detach = s.timeout, s.detach
	return cfg
}

// Do runs op with a context that is done when the timeout expires, or
// earlier if ctx is done first.
//
// Do returns op's result when op returns before the deadline. When the
// deadline passes first it returns an error matching ErrTimeout and
// context.DeadlineExceeded that wraps op's error, if any — waiting for op to
// return, or, with Config.Detach, returning at the deadline. When ctx ends
// first, the caller's cancellation or deadline is reported as such, not as
// ErrTimeout. If ctx is already done, op does not run.
//
// A call that ran out of time is reported to the Observer as TimedOut, on
// the caller's goroutine, just before Do returns. Do panics on a Timeout not
// made by New.
func (t *Timeout) Do(ctx context.Context, op func(context.Context) error) error {
	if t.clock == nil {
		panic("timeout: Timeout used without New")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("timeout: not started: %w", err)
	}
	d := t.begin(ctx)
	if d.settings.detach {
		return t.doDetached(ctx, d, op)
	}
	err := op(d.ctx)
	return t.result(ctx, d.settings, err, d.end(), false)
}

// result turns op's error into Do's; leftRunning says op was abandoned.
func (t *Timeout) result(ctx context.Context, s *settings, err error, timedOut, leftRunning bool) error {
	if !timedOut {
		return err
	}
	if t.observer != nil {
		t.observer.Observe(ctx, TimedOut{Name: t.name, Timeout: s.timeout, Detached: leftRunning, Err: err})
	}
	return &timeoutError{timeout: s.timeout, err: err}
}

// deadline is the context one call runs under and how to end it.
type deadline struct {
	settings *settings          // what the call started with
	ctx      context.Context    // what op sees
	cancel   context.CancelFunc // ends ctx when it is a runtime-timer context
	clock    *clockContext      // ctx itself when another clock drives it
	cause    error              // ctx's cause when this Timeout ended it
}

// begin derives the context a call runs under. With the system clock that is
// a standard context with a deadline; when the caller's deadline comes first
// no context is needed at all, since ours could never fire.
func (t *Timeout) begin(ctx context.Context) deadline {
	s := t.settings.Load()
	at := t.clock.Now().Add(s.timeout)
	if !t.system {
		c := newClockContext(ctx, t.clock, at, s.timeout, s.cause)
		return deadline{settings: s, ctx: c, clock: c}
	}
	if d, ok := ctx.Deadline(); ok && !d.After(at) {
		return deadline{settings: s, ctx: ctx}
	}
	c, cancel := context.WithDeadlineCause(ctx, at, s.cause)
	return deadline{settings: s, ctx: c, cancel: cancel, cause: s.cause}
}

// end releases the call's context and reports whether this Timeout's
// deadline passed before end was called.
func (d deadline) end() bool {
	switch {
	case d.clock != nil:
		return d.clock.stop()
	case d.cancel != nil:
		// Cancelling first fixes the outcome: if the deadline has not fired
		// by now, the cause becomes context.Canceled and stays so.
		d.cancel()
		return context.Cause(d.ctx) == d.cause
	}
	return false
}

// causeError is the context.Cause of a context ended by a Timeout: op can
// log context.Cause(ctx) and see which timeout stopped it.
type causeError struct{ timeout time.Duration }

func (e *causeError) Error() string {
	return "timeout: deadline of " + e.timeout.String() + " exceeded"
}

func (e *causeError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// timeoutError is what Do returns for a call that ran out of time.
type timeoutError struct {
	timeout time.Duration
	err     error // op's error; nil if op returned nil late or was left running
}

func (e *timeoutError) Error() string {
	msg := "timeout: call exceeded " + e.timeout.String()
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *timeoutError) Unwrap() error { return e.err }

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// Timeout reports true, as net.Error's method does for timeouts.
func (e *timeoutError) Timeout() bool { return true }
