// Package lifecycle keeps the states bulwark.Service describes, for the
// components that implement it: one Run at a time, none after Close, and
// Close waiting, within its context, for the Run in flight.
package lifecycle

import (
	"context"
	"fmt"
	"sync"

	"github.com/bulwark-go/bulwark"
)

// State is the lifecycle of one component. Make it with New.
type State struct {
	// Stop is closed by the first Close: the component's work watches it
	// to stop at the next safe point.
	Stop <-chan struct{}
	stop chan struct{}

	mu      sync.Mutex
	closed  bool
	running bool
	done    chan struct{}      // closed when the current Run ends
	cancel  context.CancelFunc // cancels the current Run's work
}

// New returns the State of a component that has not run.
func New() *State {
	stop := make(chan struct{})
	return &State{Stop: stop, stop: stop}
}

// Begin starts a Run: it returns the context of its work (cancelled when
// ctx is, or when a Close gives up waiting), or bulwark.ErrRunning or
// bulwark.ErrClosed. Each successful Begin must be followed by End.
func (s *State) Begin(ctx context.Context) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, bulwark.ErrClosed
	case s.running:
		return nil, bulwark.ErrRunning
	}
	work, cancel := context.WithCancel(ctx)
	s.running, s.done, s.cancel = true, make(chan struct{}), cancel
	return work, nil
}

// End ends the Run Begin started.
func (s *State) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancel()
	close(s.done)
	s.running = false
}

// Closed reports whether Close was called.
func (s *State) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close marks the component closed (closing Stop) and waits, within ctx,
// for the Run in flight to end; when ctx ends first it cancels that Run's
// work and returns ctx's error, wrapped with what (the component's name).
func (s *State) Close(ctx context.Context, what string) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	running, done, cancel := s.running, s.done, s.cancel
	s.mu.Unlock()
	if !running {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cancel()
		return fmt.Errorf("%s: closing before the work in flight ended: %w", what, ctx.Err())
	}
}
