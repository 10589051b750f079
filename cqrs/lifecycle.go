package cqrs

import (
	"context"
	"fmt"
	"sync"

	"github.com/bulwark-go/bulwark"
)

// lifecycle keeps the states bulwark.Service describes: one Run at a time,
// none after Close, and Close waiting for the Run in flight.
type lifecycle struct {
	stop chan struct{} // closed by the first Close

	mu      sync.Mutex
	closed  bool
	running bool
	done    chan struct{}      // closed when the current Run ends
	cancel  context.CancelFunc // cancels the current Run's work
}

func newLifecycle() *lifecycle { return &lifecycle{stop: make(chan struct{})} }

// begin starts a Run: it returns the context of its work (cancelled when
// ctx is, or when a Close gives up waiting), or ErrRunning or ErrClosed.
func (l *lifecycle) begin(ctx context.Context) (context.Context, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return nil, bulwark.ErrClosed
	case l.running:
		return nil, bulwark.ErrRunning
	}
	work, cancel := context.WithCancel(ctx)
	l.running, l.done, l.cancel = true, make(chan struct{}), cancel
	return work, nil
}

// end ends the Run begin started.
func (l *lifecycle) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancel()
	close(l.done)
	l.running = false
}

// isClosed reports whether Close was called.
func (l *lifecycle) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close marks the component closed and waits, within ctx, for the Run in
// flight to end; when ctx ends first it cancels that Run's work and
// returns ctx's error, wrapped with what (the component's name).
func (l *lifecycle) close(ctx context.Context, what string) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.stop)
	}
	running, done, cancel := l.running, l.done, l.cancel
	l.mu.Unlock()
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
