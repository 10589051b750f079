package saga

import (
	"context"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark"
)

// The events an Orchestrator reports to its Config.Observer. Each is
// reported synchronously, never under a lock, on the goroutine driving the
// saga: the goroutine Execute or Resume started for it, or one of those
// Run and Recover start for the sagas they take over. The ctx given to
// Observe is the context of that work: for step events the context the
// action or compensation runs with (the caller's values, a step timeout);
// for the others the saga's own (the values of Execute's or Resume's
// caller, or Run's or Recover's context). So a tracing observer adds its
// span events to the trace of the request that started the saga.
//
// Orchestrator in every event is the Config.Name of the orchestrator that
// reports it, which Component returns.

// StepStarted is reported before each invocation of an action or
// compensation (each run of it through the step's Policy counts).
type StepStarted struct {
	Orchestrator string
	Invocation
}

// StepCompleted is reported after each invocation that succeeded, before
// the transition it leads to is written.
type StepCompleted struct {
	Orchestrator string
	Invocation
	// Duration is how long the invocation took, by Config.Clock.
	Duration time.Duration
}

// StepFailed is reported after each invocation that failed (returned an
// error, panicked, or was cut short by its Timeout or the saga's
// deadline).
type StepFailed struct {
	Orchestrator string
	Invocation
	Duration time.Duration
	Err      error
}

// Retrying is reported when a try of a compensation or of a retriable step
// failed and the orchestrator waits Wait (chosen by Config.Backoff, at most
// Config.MaxDelay) before the next try. Invocation is the last invocation
// of the failed try. A step's Policy retries within one try and reports
// through its own observer.
type Retrying struct {
	Orchestrator string
	Invocation
	Err  error
	Wait time.Duration
}

// CompensationStarted is reported once a saga's turn to Compensating has
// been written: a step failed for good, the saga's deadline passed, or the
// caller of Execute went away before the point of no return. Err is that
// cause.
type CompensationStarted struct {
	Orchestrator string
	SagaID       string
	Err          error
}

// Finished is reported once a saga's terminal status has been written:
// Completed (Err is nil), Compensated, NeedsAttention (Err says what
// failed) or Abandoned (reported on the goroutine that called Abandon).
type Finished struct {
	Orchestrator string
	SagaID       string
	Status       Status
	Err          error
}

// TakenOver is reported when Run or Recover has claimed an unfinished saga
// whose lease had ended (its instance died, was closed, or lost touch with
// the store), before driving it on from Status at Step.
type TakenOver struct {
	Orchestrator string
	SagaID       string
	Status       Status
	// Step names the step the saga's log points at: the next to run
	// (Running) or to compensate (Compensating); empty when the record
	// points at no step of the definition.
	Step string
}

// Stopped is reported when this orchestrator stopped driving a saga before
// it reached a terminal status, leaving it where its log says for Run or
// Recover to resume. Err says why: it matches bulwark.ErrClosed (Close),
// ErrLeaseLost (another instance took the saga over), a context error (the
// context of Run or Recover ended), or is the store error that stopped it.
type Stopped struct {
	Orchestrator string
	SagaID       string
	Err          error
}

func (StepStarted) Kind() string         { return "saga.step_started" }
func (StepCompleted) Kind() string       { return "saga.step_completed" }
func (StepFailed) Kind() string          { return "saga.step_failed" }
func (Retrying) Kind() string            { return "saga.retrying" }
func (CompensationStarted) Kind() string { return "saga.compensation_started" }
func (Finished) Kind() string            { return "saga.finished" }
func (TakenOver) Kind() string           { return "saga.taken_over" }
func (Stopped) Kind() string             { return "saga.stopped" }

func (e StepStarted) Component() string         { return e.Orchestrator }
func (e StepCompleted) Component() string       { return e.Orchestrator }
func (e StepFailed) Component() string          { return e.Orchestrator }
func (e Retrying) Component() string            { return e.Orchestrator }
func (e CompensationStarted) Component() string { return e.Orchestrator }
func (e Finished) Component() string            { return e.Orchestrator }
func (e TakenOver) Component() string           { return e.Orchestrator }
func (e Stopped) Component() string             { return e.Orchestrator }

// invocationAttrs are the attributes every step event logs.
func invocationAttrs(inv Invocation, more ...slog.Attr) slog.Value {
	return slog.GroupValue(append([]slog.Attr{
		slog.String("saga", inv.SagaID),
		slog.String("step", inv.Step),
		slog.Bool("compensation", inv.Compensation),
		slog.Int("attempt", inv.Attempt),
	}, more...)...)
}

func (e StepStarted) LogValue() slog.Value { return invocationAttrs(e.Invocation) }
func (e StepCompleted) LogValue() slog.Value {
	return invocationAttrs(e.Invocation, slog.Duration("duration", e.Duration))
}
func (e StepFailed) LogValue() slog.Value {
	return invocationAttrs(e.Invocation, slog.Duration("duration", e.Duration), errorAttr(e.Err))
}
func (e Retrying) LogValue() slog.Value {
	return invocationAttrs(e.Invocation, errorAttr(e.Err), slog.Duration("wait", e.Wait))
}
func (e CompensationStarted) LogValue() slog.Value {
	return slog.GroupValue(slog.String("saga", e.SagaID), errorAttr(e.Err))
}
func (e Finished) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("saga", e.SagaID), slog.String("status", string(e.Status))}
	if e.Err != nil {
		attrs = append(attrs, errorAttr(e.Err))
	}
	return slog.GroupValue(attrs...)
}
func (e TakenOver) LogValue() slog.Value {
	return slog.GroupValue(slog.String("saga", e.SagaID), slog.String("status", string(e.Status)), slog.String("step", e.Step))
}
func (e Stopped) LogValue() slog.Value {
	return slog.GroupValue(slog.String("saga", e.SagaID), errorAttr(e.Err))
}

func errorAttr(err error) slog.Attr {
	if err == nil {
		return slog.String("error", "")
	}
	return slog.String("error", err.Error())
}

// observe reports ev to obs, if any. It is generic so that no event is
// boxed into an interface, and none allocated, when nobody observes.
func observe[E bulwark.Event](obs bulwark.Observer, ctx context.Context, ev E) {
	if obs != nil {
		obs.Observe(ctx, ev)
	}
}

var (
	_ bulwark.Event = StepStarted{}
	_ bulwark.Event = StepCompleted{}
	_ bulwark.Event = StepFailed{}
	_ bulwark.Event = Retrying{}
	_ bulwark.Event = CompensationStarted{}
	_ bulwark.Event = Finished{}
	_ bulwark.Event = TakenOver{}
	_ bulwark.Event = Stopped{}
)
