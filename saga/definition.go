package saga

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwark-go/bulwark"
)

// Kind is a step's place in the saga, after Chris Richardson's model:
// compensatable steps first, then at most one pivot, then retriable steps.
type Kind uint8

const (
	// Compensatable steps can be undone: when a later step fails, their
	// compensations run in reverse order. The zero Kind.
	Compensatable Kind = iota
	// Pivot is the go/no-go step. If it fails, the steps before it are
	// compensated; once it has begun, the saga only goes forward. A pivot
	// has no compensation, and an error from it must mean it took no effect
	// (a local transaction, an authorisation that either happened or not).
	Pivot
	// Retriable steps come after the pivot. They are retried until they
	// succeed (or, with Config.RetriableAttempts, until the saga needs
	// attention) and are never compensated.
	Retriable
)

// String returns "compensatable", "pivot" or "retriable".
func (k Kind) String() string {
	switch k {
	case Compensatable:
		return "compensatable"
	case Pivot:
		return "pivot"
	case Retriable:
		return "retriable"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// StepFunc is a step's action or compensation. It may change data; the
// changes are persisted with the step's transition and seen by later steps
// (and by compensations). When it fails, data goes back to what the log
// holds before the next invocation, so every invocation sees persisted data,
// whether or not the orchestrator crashed in between.
//
// Invocations of one step can repeat (retries, a crash after the effect but
// before the transition was persisted, an instance taking over), so the
// service a step calls must deduplicate by inv.Key().
type StepFunc[T any] func(ctx context.Context, data *T, inv Invocation) error

// Step is one named step of a saga.
type Step[T any] struct {
	// Name identifies the step in the saga's log and in idempotency keys; it
	// is unique within the Definition.
	Name string
	// Kind is Compensatable (the default), Pivot or Retriable.
	Kind Kind
	// Action does the step's work. Required.
	Action StepFunc[T]
	// Compensate undoes Action; only Compensatable steps have one, and nil
	// means there is nothing to undo. It runs for the step whose action
	// failed too (the action may have taken effect before failing, or a
	// crash may have hidden its outcome), so it must succeed when Action
	// never took effect: a service that finds no effect under the action's
	// key records the compensation and refuses a late action.
	Compensate StepFunc[T]
	// Policy runs each attempt of Action and Compensate, e.g. a retry policy
	// from package retry, a circuit breaker, or a chain of them. Nil runs
	// each attempt once. Attempts of one step run one after the other; a
	// policy that runs op concurrently (hedging) is not supported.
	Policy bulwark.Policy
	// Timeout bounds each invocation of Action and Compensate; an invocation
	// still running then has its context cancelled. Zero means no timeout.
	Timeout time.Duration
}

// Definition describes a saga over data of type T: its ordered steps and how
// its data is persisted.
type Definition[T any] struct {
	// Name identifies the definition in the store: an orchestrator drives
	// and recovers only sagas of its definition's name.
	Name string
	// Steps run in order: Compensatable steps, at most one Pivot, then
	// Retriable steps. Sagas already in a store keep their step indexes, so
	// a definition changed while sagas of it are unfinished should only add
	// steps at the end.
	Steps []Step[T]
	// Codec persists the saga data; nil means JSON.
	Codec Codec[T]
	// Timeout is the saga's deadline, counted from Execute. A saga that has
	// not reached its pivot (or first retriable step) by then is
	// compensated, and its running compensatable step is cancelled. Zero
	// means no deadline.
	Timeout time.Duration
}

// Invocation identifies one invocation of a step's action or compensation.
type Invocation struct {
	SagaID       string
	Step         string
	Compensation bool // the invocation is of the step's compensation
	// Attempt counts the invocations of this action or compensation by this
	// orchestrator for this saga, from 1. It starts again from 1 after a
	// crash or takeover, so it is for logs, not for deduplication.
	Attempt int
}

// Key returns the idempotency key to pass to the service the step calls:
// SagaID/Step for the action and SagaID/Step/compensation for the
// compensation. It is the same on every invocation, by any instance, before
// or after a crash, so the service can recognise a repeat.
func (inv Invocation) Key() string {
	if inv.Compensation {
		return inv.SagaID + "/" + inv.Step + "/compensation"
	}
	return inv.SagaID + "/" + inv.Step
}

// validate checks the definition and returns the index of its point of no
// return: the pivot, or else the first retriable step, or else len(Steps).
func (d *Definition[T]) validate() (noReturn int, err error) {
	if d.Name == "" {
		return 0, fmt.Errorf("saga: Definition.Name must not be empty")
	}
	if len(d.Steps) == 0 {
		return 0, fmt.Errorf("saga: Definition %q has no steps", d.Name)
	}
	if d.Timeout < 0 {
		return 0, fmt.Errorf("saga: Definition.Timeout must be >= 0, got %v", d.Timeout)
	}
	noReturn = len(d.Steps)
	names := make(map[string]bool, len(d.Steps))
	prev := Compensatable
	for i, s := range d.Steps {
		where := fmt.Sprintf("saga: Definition %q step %d (%q)", d.Name, i, s.Name)
		switch {
		case s.Name == "":
			return 0, fmt.Errorf("%s: Name must not be empty", where)
		case names[s.Name]:
			return 0, fmt.Errorf("%s: Name is used by an earlier step", where)
		case s.Kind > Retriable:
			return 0, fmt.Errorf("%s: Kind must be Compensatable, Pivot or Retriable, got %v", where, s.Kind)
		case s.Action == nil:
			return 0, fmt.Errorf("%s: Action must not be nil", where)
		case s.Kind != Compensatable && s.Compensate != nil:
			return 0, fmt.Errorf("%s: a %v step is never compensated, so Compensate must be nil", where, s.Kind)
		case s.Kind < prev || (s.Kind == Pivot && prev == Pivot):
			return 0, fmt.Errorf("%s: a %v step cannot follow a %v step (order: compensatable steps, at most one pivot, retriable steps)", where, s.Kind, prev)
		case s.Timeout < 0:
			return 0, fmt.Errorf("%s: Timeout must be >= 0, got %v", where, s.Timeout)
		}
		names[s.Name] = true
		if s.Kind != Compensatable && noReturn == len(d.Steps) {
			noReturn = i
		}
		prev = s.Kind
	}
	return noReturn, nil
}
