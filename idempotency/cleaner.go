package idempotency

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

// Cleanable is what a Cleaner cleans: anything that deletes its expired
// records when asked and says how many it deleted. *Keeper has the method,
// and so do the SQL adapters' transactional inboxes (pgidempotency.Inbox,
// sqliteidempotency.Inbox).
type Cleanable interface {
	Cleanup(ctx context.Context) (int, error)
}

// DefaultCleanInterval is the default of CleanerConfig.Interval.
const DefaultCleanInterval = 5 * time.Minute

// CleanerConfig configures a Cleaner. Every zero field means the default
// its comment names, so CleanerConfig{} is the default configuration.
type CleanerConfig struct {
	// Interval is the time between the end of one cleanup and the start of
	// the next. 0 means DefaultCleanInterval (5 minutes); otherwise at
	// least 1ms.
	Interval time.Duration

	// Name identifies the Cleaner in its events. Optional.
	Name string

	// Observer receives the Cleaner's events (Cleaned, CleanupFailed). Nil
	// observes nothing.
	Observer bulwark.Observer

	// Clock times the intervals. Nil means clock.System.
	Clock clock.Clock
}

// DefaultCleanerConfig returns the defaults that CleanerConfig{} stands
// for, spelled out: a cleanup every 5 minutes on the system clock.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{Interval: DefaultCleanInterval, Clock: clock.System}
}

// Cleaner deletes expired records periodically: it is the bulwark.Service
// that runs a Keeper's (or a SQL inbox's) Cleanup, so that no one writes a
// ticker loop of their own. Its Run cleans up at once, then once per
// Interval; a failed cleanup is reported (CleanupFailed) and tried again
// at the next interval, and does not end Run. Close cancels a cleanup in
// flight: deleting expired records is safe to cut short and redo.
//
//	cleaner, _ := idempotency.NewCleaner(keeper, idempotency.CleanerConfig{})
//	group := bulwark.Start(ctx, cleaner)
//	defer group.Stop(context.Background())
type Cleaner struct {
	target Cleanable
	cfg    CleanerConfig // defaults filled in

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc // ends the running Run's cleanup and wait
	done    chan struct{}      // closed when the last Run returned
}

var _ bulwark.Service = (*Cleaner)(nil)

// NewCleaner returns a Cleaner of target, or an error naming the first
// invalid setting of cfg. It starts nothing; call Run (or bulwark.Start).
func NewCleaner(target Cleanable, cfg CleanerConfig) (*Cleaner, error) {
	if target == nil {
		return nil, errors.New("idempotency: NewCleaner needs a target, got nil")
	}
	if err := atLeastMillisecond("CleanerConfig.Interval", cfg.Interval, DefaultCleanInterval); err != nil {
		return nil, err
	}
	cfg.Interval = cmp.Or(cfg.Interval, DefaultCleanInterval)
	cfg.Clock = clock.OrSystem(cfg.Clock)
	return &Cleaner{target: target, cfg: cfg}, nil
}

// Run cleans up at once and then every Interval, until ctx is done (it
// returns ctx's error, wrapped) or Close is called (it returns nil). It
// returns bulwark.ErrRunning while another Run is running and
// bulwark.ErrClosed after Close.
func (c *Cleaner) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.target == nil {
		c.mu.Unlock()
		panic("idempotency: Cleaner used without NewCleaner")
	}
	switch {
	case c.closed:
		c.mu.Unlock()
		return fmt.Errorf("idempotency: cleaner: %w", bulwark.ErrClosed)
	case c.running:
		c.mu.Unlock()
		return fmt.Errorf("idempotency: cleaner: %w", bulwark.ErrRunning)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	c.running, c.cancel, c.done = true, cancel, done
	c.mu.Unlock()
	defer func() {
		cancel()
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		close(done)
	}()

	for {
		c.clean(runCtx)
		if clock.Sleep(runCtx, c.cfg.Clock, c.cfg.Interval) != nil {
			break
		}
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("idempotency: cleaner: %w", ctx.Err())
}

// clean runs one cleanup and reports it.
func (c *Cleaner) clean(ctx context.Context) {
	n, err := c.target.Cleanup(ctx)
	if c.cfg.Observer == nil {
		return
	}
	switch {
	case err == nil:
		c.cfg.Observer.Observe(ctx, Cleaned{Name: c.cfg.Name, Deleted: n})
	case ctx.Err() == nil:
		c.cfg.Observer.Observe(ctx, CleanupFailed{Name: c.cfg.Name, Deleted: n, Err: err})
	}
}

// Close stops Run, cancelling a cleanup in flight, and waits within ctx
// until Run has returned; it returns ctx's error, wrapped, if ctx ended
// first. It may be called before Run (which then returns
// bulwark.ErrClosed), more than once, and from any goroutine.
func (c *Cleaner) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.target == nil {
		c.mu.Unlock()
		panic("idempotency: Cleaner used without NewCleaner")
	}
	c.closed = true
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("idempotency: closing the cleaner: %w", ctx.Err())
	}
}
