package cqrs

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownProjection means the projector has no projection of that
	// name.
	ErrUnknownProjection = errors.New("cqrs: unknown projection")
	// ErrParked means a projection is parked at an event it failed to
	// apply: WaitFor returns a *ParkedError matching it when the
	// projection it waits for is parked before the position.
	ErrParked = errors.New("cqrs: projection parked at a failing event")
	// ErrNotParked means Resume or Skip was asked of a projection that is
	// not parked.
	ErrNotParked = errors.New("cqrs: projection is not parked")
)

// ParkedError is the error of waiting for a projection parked at a failing
// event. errors.Is(err, ErrParked) reports it.
type ParkedError struct {
	Projection string
	Version    int
	// Failed is the event it is parked at.
	Failed Failure
}

func (e *ParkedError) Error() string {
	return fmt.Sprintf("cqrs: projection %q (version %d) is parked at position %d: %s", e.Projection, e.Version, e.Failed.Position, e.Failed.Error)
}

// Is makes errors.Is(err, ErrParked) true.
func (e *ParkedError) Is(target error) bool { return target == ErrParked }
