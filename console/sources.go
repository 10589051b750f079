package console

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/bulwark-go/bulwark/cqrs"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/saga"
	"github.com/google/uuid"
)

// Outbox is what the console reads and does with an outbox: every
// outbox.Store satisfies it.
type Outbox interface {
	Stats(ctx context.Context) (outbox.Stats, error)
	DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error)
	Replay(ctx context.Context, ids ...uuid.UUID) (int, error)
	Discard(ctx context.Context, ids ...uuid.UUID) (int, error)
}

// Projections is what the console reads and does with a projector's
// projections: every *cqrs.Projector satisfies it.
type Projections interface {
	Status(ctx context.Context) ([]cqrs.Status, error)
	Resume(ctx context.Context, name string) error
	Skip(ctx context.Context, name string) error
	Rebuild(ctx context.Context, name string) error
}

// Sagas is what the console reads and does with one kind of saga. Make
// one from a *saga.Orchestrator with SagasOf.
type Sagas interface {
	// NeedAttention lists up to limit sagas that need attention, by ID.
	NeedAttention(ctx context.Context, limit int) ([]StuckSaga, error)
	Resume(ctx context.Context, id string) error
	Abandon(ctx context.Context, id, reason string) error
}

// StuckSaga is a saga that needs attention, without its data (which may
// hold what the console must not show).
type StuckSaga struct {
	ID        string `json:"id"`
	Step      string `json:"step"`
	Error     string `json:"error"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// Orchestrator is the part of a *saga.Orchestrator[T] that SagasOf uses.
type Orchestrator[T any] interface {
	List(ctx context.Context, q saga.ListQuery) ([]saga.Snapshot[T], error)
	Resume(ctx context.Context, id string) error
	Abandon(ctx context.Context, id, reason string) error
}

// SagasOf returns o as Sagas: it lists o's sagas in status
// saga.NeedsAttention and resumes and abandons them through o. A resumed
// saga that ends compensated (saga.ErrCompensated) counts as resumed.
func SagasOf[T any](o Orchestrator[T]) Sagas { return orchestrated[T]{o} }

type orchestrated[T any] struct{ o Orchestrator[T] }

func (s orchestrated[T]) NeedAttention(ctx context.Context, limit int) ([]StuckSaga, error) {
	snaps, err := s.o.List(ctx, saga.ListQuery{Status: saga.NeedsAttention, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]StuckSaga, len(snaps))
	for i, sn := range snaps {
		out[i] = StuckSaga{ID: sn.ID, Step: sn.Step, Error: sn.Error, CreatedAt: stamp(sn.CreatedAt), UpdatedAt: stamp(sn.UpdatedAt)}
	}
	return out, nil
}

// Resume drives the saga to its end; one that ends compensated (what a
// stuck compensation was for) is resumed successfully.
func (s orchestrated[T]) Resume(ctx context.Context, id string) error {
	if err := s.o.Resume(ctx, id); err != nil && !errors.Is(err, saga.ErrCompensated) {
		return err
	}
	return nil
}

func (s orchestrated[T]) Abandon(ctx context.Context, id, reason string) error {
	return s.o.Abandon(ctx, id, reason)
}

// Component is the console's extension point: anything with state to show
// and actions to offer (the gateway's routes and endpoint health
// implement it). Its Snapshot is shown as it is and must hold no secret;
// its Actions are offered as POST /api/components/{name}/{action}, behind
// the console's authentication, CSRF check and audit, and run by Act with
// the request's target.
type Component interface {
	// Snapshot returns the component's state as JSON.
	Snapshot(ctx context.Context) (json.RawMessage, error)
	// Actions names the actions Act takes, each a path segment.
	Actions() []string
	// Act takes action on target (which the action defines, such as an
	// endpoint's address), or returns why it did not.
	Act(ctx context.Context, action, target string) error
}
