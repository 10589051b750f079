package saga

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// execution drives one saga from its log to a terminal status, writing
// every transition before the next invocation.
type execution[T any] struct {
	o   *Orchestrator[T]
	id  string // rec.ID, for the heartbeat: rec itself belongs to the driving goroutine
	rec Record // as last written (or read) by this execution
	// data is the saga data. While dirty is set it may differ from rec.Data
	// (an invocation failed, or the record was just read) and is decoded
	// again from rec.Data before the next invocation; a write while dirty
	// keeps rec.Data.
	data   T
	dirty  bool
	caller context.Context // of Execute or Resume; Background when taken over
	lease  atomic.Int64    // rec.LeaseUntil in Unix nanoseconds, for the heartbeat
	cause  error           // why the saga compensates or needs attention, as seen here
	inv    Invocation      // of the action or compensation being run
}

// errStopping: the orchestrator is stopping this execution (Close, or the
// end of the Run or Recover context); not a failure of the saga.
var errStopping = errors.New("stopping")

// stopping reports whether the execution must stop before its next
// invocation: Close was called, or run was cancelled.
func (e *execution[T]) stopping(run context.Context) bool {
	return e.o.drain.Err() != nil || run.Err() != nil
}

// drive runs the saga until it is terminal, this instance loses it, or run
// is cancelled. caller is the context of the Execute or Resume call
// (Background when taken over): cancelling it compensates a saga that has
// not reached its point of no return. parent carries the values every invocation sees.
func (e *execution[T]) drive(caller, parent context.Context) error {
	o := e.o
	e.caller = caller
	run, stopRun := context.WithCancelCause(parent)
	defer stopRun(nil)
	defer context.AfterFunc(o.kill, func() { stopRun(context.Cause(o.kill)) })()
	fwd := run
	if caller.Done() != nil {
		var stopFwd context.CancelCauseFunc
		fwd, stopFwd = context.WithCancelCause(run)
		defer stopFwd(nil)
		defer context.AfterFunc(caller, func() {
			stopFwd(fmt.Errorf("the caller of the saga went away: %w", context.Cause(caller)))
		})()
	}
	e.lease.Store(e.rec.LeaseUntil.UnixNano())

	err := e.check()
	if err != nil {
		err = e.needsAttention(run, e.rec.Step, fmt.Errorf("cannot resume from the stored record: %w", err))
	}
	for err == nil {
		if e.stopping(run) {
			err = errStopping
			break
		}
		switch e.rec.Status {
		case Running:
			err = e.forward(run, fwd)
		case Compensating:
			err = e.compensate(run)
		default:
			return e.outcome()
		}
	}
	return e.stopped(run, err)
}

// check validates a record read from the store before acting on it.
func (e *execution[T]) check() error {
	steps := len(e.o.def.Steps)
	switch e.rec.Status {
	case Running:
		if e.rec.Step < 0 || e.rec.Step >= steps {
			return fmt.Errorf("running at step %d of a definition with %d steps", e.rec.Step, steps)
		}
	case Compensating:
		if e.rec.Step < 0 || e.rec.Step >= e.o.noReturn {
			return fmt.Errorf("compensating at step %d of a definition with %d compensatable steps", e.rec.Step, e.o.noReturn)
		}
	}
	if e.dirty {
		return e.restore()
	}
	return nil
}

// forward runs step rec.Step and writes the transition its outcome leads to.
func (e *execution[T]) forward(run, fwd context.Context) error {
	o := e.o
	i := e.rec.Step
	s := &o.def.Steps[i]
	e.inv = Invocation{SagaID: e.rec.ID, Step: s.Name}
	if i >= o.noReturn {
		// Past the point of no return: only forward, whatever the caller or
		// the deadline say.
		var err error
		if s.Kind == Retriable {
			err = e.retry(run, o.cfg.RetriableAttempts, s, s.Action)
		} else {
			err = e.attempt(run, s, s.Action)
		}
		switch {
		case run.Err() != nil, errors.Is(err, errStopping):
			return errStopping
		case err == nil:
			return e.advance(run, i+1)
		case s.Kind == Pivot:
			return e.beginCompensation(run, i-1, fmt.Errorf("step %q: %w", s.Name, err))
		default:
			return e.needsAttention(run, i, fmt.Errorf("step %q failed %d time(s): %w", s.Name, o.cfg.RetriableAttempts, err))
		}
	}

	if cause := e.abortCause(fwd); cause != nil {
		// The step may have been started by an instance that died, so its
		// compensation runs too.
		return e.beginCompensation(run, i, cause)
	}
	ctx := fwd
	if !e.rec.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = withTimer(fwd, o.clk, e.rec.Deadline.Sub(o.clk.Now()), ErrDeadlineExceeded)
		defer cancel()
	}
	err := e.attempt(ctx, s, s.Action)
	switch {
	case run.Err() != nil:
		return errStopping
	case err != nil:
		return e.beginCompensation(run, i, fmt.Errorf("step %q: %w", s.Name, err))
	}
	if i+1 == o.noReturn && i+1 < len(o.def.Steps) {
		// Entering the point of no return is the last chance to abort.
		if cause := e.abortCause(fwd); cause != nil {
			return e.beginCompensation(run, i, cause)
		}
	}
	return e.advance(run, i+1)
}

// abortCause returns why a saga before its point of no return must be
// compensated instead of going on: its caller went away or its deadline
// passed. Nil if neither.
func (e *execution[T]) abortCause(fwd context.Context) error {
	if e.caller.Err() != nil {
		// fwd learns it asynchronously; the caller's context knows now.
		return fmt.Errorf("the caller of the saga went away: %w", context.Cause(e.caller))
	}
	if fwd.Err() != nil {
		return context.Cause(fwd)
	}
	if !e.rec.Deadline.IsZero() && !e.o.clk.Now().Before(e.rec.Deadline) {
		return ErrDeadlineExceeded
	}
	return nil
}

// advance writes the transition to step next, or to Completed after the
// last step.
func (e *execution[T]) advance(run context.Context, next int) error {
	if next < len(e.o.def.Steps) {
		return e.write(run, Running, next, "")
	}
	if err := e.write(run, Completed, next, ""); err != nil {
		return err
	}
	observe(e.o.obs, run, Finished{Orchestrator: e.o.cfg.Name, SagaID: e.rec.ID, Status: Completed})
	return nil
}

// beginCompensation writes the transition to compensating from step from
// down (or straight to Compensated when no step there has a compensation).
func (e *execution[T]) beginCompensation(run context.Context, from int, cause error) error {
	e.cause = cause
	next := e.lastCompensable(from)
	status := Compensating
	if next < 0 {
		status = Compensated
	}
	if err := e.write(run, status, next, cause.Error()); err != nil {
		return err
	}
	observe(e.o.obs, run, CompensationStarted{Orchestrator: e.o.cfg.Name, SagaID: e.rec.ID, Err: cause})
	if status == Compensated {
		observe(e.o.obs, run, Finished{Orchestrator: e.o.cfg.Name, SagaID: e.rec.ID, Status: Compensated, Err: cause})
	}
	return nil
}

// lastCompensable returns the highest step index <= from that has a
// compensation, or -1.
func (e *execution[T]) lastCompensable(from int) int {
	for j := min(from, e.o.noReturn-1); j >= 0; j-- {
		if e.o.def.Steps[j].Compensate != nil {
			return j
		}
	}
	return -1
}

// compensate runs the compensation of step rec.Step, retrying it, and
// writes the transition to the next compensation, Compensated, or
// NeedsAttention.
func (e *execution[T]) compensate(run context.Context) error {
	o := e.o
	j := e.rec.Step
	s := &o.def.Steps[j]
	if s.Compensate != nil {
		e.inv = Invocation{SagaID: e.rec.ID, Step: s.Name, Compensation: true}
		err := e.retry(run, o.cfg.CompensationAttempts, s, s.Compensate)
		switch {
		case run.Err() != nil, errors.Is(err, errStopping):
			return errStopping
		case err != nil:
			return e.needsAttention(run, j, fmt.Errorf("compensation of step %q failed %d time(s): %w", s.Name, o.cfg.CompensationAttempts, err))
		}
	}
	next := e.lastCompensable(j - 1)
	if next >= 0 {
		return e.write(run, Compensating, next, "")
	}
	if err := e.write(run, Compensated, next, ""); err != nil {
		return err
	}
	observe(o.obs, run, Finished{Orchestrator: o.cfg.Name, SagaID: e.rec.ID, Status: Compensated, Err: e.causeOr()})
	return nil
}

// needsAttention writes the saga as stuck at step, and tells the log and
// the observer.
func (e *execution[T]) needsAttention(run context.Context, step int, err error) error {
	if e.cause != nil || e.rec.Error != "" {
		err = fmt.Errorf("%w; then %w", e.causeOr(), err)
	}
	e.cause = err
	if werr := e.write(run, NeedsAttention, step, err.Error()); werr != nil {
		return werr
	}
	e.o.log.Error("saga needs attention: Resume or Abandon it", "saga", e.rec.ID, "definition", e.rec.Name, "step", step, "error", err)
	observe(e.o.obs, run, Finished{Orchestrator: e.o.cfg.Name, SagaID: e.rec.ID, Status: NeedsAttention, Err: err})
	return nil
}

// causeOr returns the cause seen by this execution, or the stored one.
func (e *execution[T]) causeOr() error {
	if e.cause != nil {
		return e.cause
	}
	return errors.New(e.rec.Error)
}

// outcome is Execute's result for a terminal saga.
func (e *execution[T]) outcome() error {
	if e.rec.Status == Completed {
		return nil
	}
	return &Error{SagaID: e.rec.ID, Status: e.rec.Status, Err: e.causeOr()}
}

// stopped ends an execution that did not reach a terminal status. When the
// orchestrator is stopping it, it releases the lease so another instance
// can take the saga over at once.
func (e *execution[T]) stopped(run context.Context, err error) error {
	switch {
	case errors.Is(err, ErrLeaseLost):
		observe(e.o.obs, run, Stopped{Orchestrator: e.o.cfg.Name, SagaID: e.rec.ID, Err: err})
		return fmt.Errorf("saga %s: %w", e.rec.ID, err)
	case run.Err() != nil || errors.Is(err, errStopping):
		err = bulwark.ErrClosed // drained by Close
		if run.Err() != nil {
			err = context.Cause(run)
		}
		rec := e.rec
		rec.Owner, rec.LeaseUntil, rec.UpdatedAt = "", time.Time{}, e.o.clk.Now()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(run), 5*time.Second)
		defer cancel()
		_ = e.o.store.Update(ctx, rec) // best effort: otherwise the lease just runs out
	default:
		e.o.log.Warn("saga stopped on a store error; Run or Recover resumes it when its lease ends", "saga", e.rec.ID, "error", err)
	}
	observe(e.o.obs, run, Stopped{Orchestrator: e.o.cfg.Name, SagaID: e.rec.ID, Err: err})
	return fmt.Errorf("saga %s: %w: %w", e.rec.ID, ErrStopped, err)
}

// write persists the saga as status at step, with the current data (or the
// stored data while dirty) and errText (the stored error when empty), and
// extends the lease.
func (e *execution[T]) write(ctx context.Context, status Status, step int, errText string) error {
	o := e.o
	next := e.rec
	next.Status, next.Step = status, step
	if errText != "" {
		next.Error = errText
	}
	if !e.dirty {
		data, err := o.codec.Marshal(&e.data)
		if err != nil {
			// Data that cannot be encoded would fail again after any
			// restart: stop here with the last data that could be.
			e.dirty = true
			if status == NeedsAttention {
				return fmt.Errorf("encoding data: %w", err)
			}
			return e.needsAttention(ctx, e.rec.Step, fmt.Errorf("encoding the data for %s at step %d: %w", status, step, err))
		}
		next.Data = data
	}
	now := o.clk.Now()
	next.UpdatedAt = now
	next.LeaseUntil = now.Add(o.cfg.LeaseDuration)
	if err := o.store.Update(ctx, next); err != nil {
		if errors.Is(err, ErrConflict) {
			return ErrLeaseLost
		}
		if ctx.Err() != nil {
			return errStopping
		}
		return fmt.Errorf("writing %s at step %d: %w", status, step, err)
	}
	next.Version++
	e.rec = next
	e.lease.Store(next.LeaseUntil.UnixNano())
	return nil
}

// restore decodes the stored data into a zero T.
func (e *execution[T]) restore() error {
	var zero T
	e.data = zero
	if err := e.o.codec.Unmarshal(e.rec.Data, &e.data); err != nil {
		return fmt.Errorf("decoding data: %w", err)
	}
	e.dirty = false
	return nil
}

// retry runs tries of fn until one succeeds, run ends, or limit of them
// failed (never, for Unlimited), waiting as Config.Backoff says between
// them. It returns errStopping when Close or the end of run cut a wait
// short.
func (e *execution[T]) retry(run context.Context, limit int, s *Step[T], fn StepFunc[T]) error {
	o := e.o
	var wait time.Duration
	for n := 1; ; n++ {
		err := e.attempt(run, s, fn)
		if err == nil || run.Err() != nil || (limit != Unlimited && n >= limit) {
			return err
		}
		wait = o.cfg.Backoff.Wait(n, wait, o.cfg.MaxDelay)
		observe(o.obs, run, Retrying{Orchestrator: o.cfg.Name, Invocation: e.inv, Err: err, Wait: wait})
		if !e.pause(run, wait) {
			return errStopping
		}
	}
}

// pause waits d on the orchestrator's clock; false when Close or the end
// of run cut it short.
func (e *execution[T]) pause(run context.Context, d time.Duration) bool {
	if e.stopping(run) {
		return false
	}
	if d <= 0 {
		return true
	}
	t := e.o.clk.NewTimer(d)
	select {
	case <-t.C():
		return true
	case <-run.Done():
	case <-e.o.drain.Done():
	}
	t.Stop()
	return false
}

// attempt runs one try of fn (an action or compensation of s) through the
// step's policy.
func (e *execution[T]) attempt(ctx context.Context, s *Step[T], fn StepFunc[T]) error {
	if s.Policy == nil {
		return e.invoke(ctx, s, fn)
	}
	return s.Policy.Do(ctx, func(ctx context.Context) error { return e.invoke(ctx, s, fn) })
}

// invoke calls fn once, on data decoded from the log if an earlier
// invocation may have changed it, with the step's timeout, and reports it.
func (e *execution[T]) invoke(ctx context.Context, s *Step[T], fn StepFunc[T]) error {
	o := e.o
	inv := &e.inv
	if e.dirty {
		if err := e.restore(); err != nil {
			return err
		}
	}
	inv.Attempt++
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = withTimer(ctx, o.clk, s.Timeout, ErrStepTimeout)
		defer cancel()
	}
	var start time.Time
	if o.obs != nil {
		start = o.clk.Now()
		o.obs.Observe(ctx, StepStarted{Orchestrator: o.cfg.Name, Invocation: *inv})
	}
	e.dirty = true
	err := e.call(ctx, fn, *inv)
	if err == nil {
		e.dirty = false
		if o.obs != nil {
			o.obs.Observe(ctx, StepCompleted{Orchestrator: o.cfg.Name, Invocation: *inv, Duration: o.clk.Now().Sub(start)})
		}
		return nil
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	if o.obs != nil {
		o.obs.Observe(ctx, StepFailed{Orchestrator: o.cfg.Name, Invocation: *inv, Duration: o.clk.Now().Sub(start), Err: err})
	}
	return err
}

// call runs fn, turning a panic into an error: the step failed, and its
// compensation (which must tolerate a half-done action) runs.
func (e *execution[T]) call(ctx context.Context, fn StepFunc[T], inv Invocation) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.o.log.Error("saga step panicked", "saga", inv.SagaID, "step", inv.Step, "compensation", inv.Compensation, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx, &e.data, inv)
}

// withTimer returns a context cancelled with cause after d on clock c.
func withTimer(ctx context.Context, c clock.Clock, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := c.NewTimer(d)
	go func() {
		select {
		case <-t.C():
			cancel(cause)
		case <-ctx.Done():
			t.Stop()
		}
	}()
	return ctx, func() {
		t.Stop() // now, not when the goroutine gets to it: tests count timers
		cancel(nil)
	}
}
