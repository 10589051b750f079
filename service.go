package bulwark

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Service is a component that does background work: an outbox relay, a saga
// orchestrator, a CQRS projector, an idempotency store's cleaner. Every one in
// bulwark keeps the same lifecycle:
//
//   - Its constructor starts nothing.
//   - Run does the work and blocks until ctx is done (it then returns ctx's
//     error, wrapped), until Close is called (it then returns nil), or until
//     the work fails in a way it cannot recover from (it returns that error).
//     A Run called while another is running returns ErrRunning at once; one
//     called after Close returns ErrClosed.
//   - Close stops Run and waits, within ctx, until the work in flight is
//     finished or safely abandoned (left for another instance or a restart
//     to redo, never half-done). It returns nil once Run has returned, or
//     ctx's error, wrapped, when ctx ended first. Close may be called before
//     Run, more than once, and from any goroutine.
//
// Start runs several services and stops them together.
type Service interface {
	Run(ctx context.Context) error
	Close(ctx context.Context) error
}

// Group owns the Runs of the services given to Start.
type Group struct {
	services []Service
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	done     chan struct{}

	mu       sync.Mutex
	err      error // the first failed Run
	stopping bool
}

// Start calls each service's Run on a goroutine of its own, with a context
// derived from ctx, and returns the Group that owns those goroutines.
//
// A Run that returns for any reason other than a stop (Close, or the end of
// ctx) fails the group: the others' context is cancelled, so that a process
// whose relay died does not go on half-working, and Err reports the error.
// Done is closed when every Run has returned. Call Stop to close the
// services; it is needed even after a failure, to release what they hold.
func Start(ctx context.Context, services ...Service) *Group {
	g := &Group{services: append([]Service(nil), services...), done: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(ctx)
	g.wg.Add(len(g.services))
	for _, s := range g.services {
		go g.run(s)
	}
	go func() {
		g.wg.Wait()
		g.cancel()
		close(g.done)
	}()
	return g
}

func (g *Group) run(s Service) {
	defer g.wg.Done()
	err := s.Run(g.ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil || g.err != nil || g.stopping || g.ctx.Err() != nil {
		return
	}
	g.err = fmt.Errorf("bulwark: %T stopped: %w", s, err)
	g.cancel()
}

// Done is closed when the Run of every service has returned.
func (g *Group) Done() <-chan struct{} { return g.done }

// Err returns the error of the first Run that failed (returned for a reason
// other than Stop or the end of Start's context), or nil.
func (g *Group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Stop closes the services, the last given to Start first, each with ctx,
// then waits for every Run to return or for ctx to end. It returns the
// first failed Run's error (see Err) joined with every Close's error; nil
// means each service stopped cleanly. Calling Stop again closes nothing new
// and returns the same failures.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
	var errs []error
	for i := len(g.services) - 1; i >= 0; i-- {
		if err := g.services[i].Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("bulwark: closing %T: %w", g.services[i], err))
		}
	}
	select {
	case <-g.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("bulwark: waiting for the services to stop: %w", ctx.Err()))
	}
	return errors.Join(append([]error{g.Err()}, errs...)...)
}
