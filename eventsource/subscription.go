package eventsource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
	"github.com/bulwark-go/bulwark/retry"
)

// SubscriptionConfig configures a Subscription. The zero value is the
// default configuration (see DefaultSubscriptionConfig); each field's zero
// value means the default its comment names.
type SubscriptionConfig struct {
	// Name names the subscription in its events (see CaughtUp).
	Name string
	// Observer receives the subscription's events; nil reports none.
	Observer bulwark.Observer
	// Checkpoint is the global position after which delivery starts: 0
	// (the default) for the whole log, or the position of the last event
	// the subscriber handled. Not negative.
	Checkpoint int64
	// PageSize is the most events read from the store at a time, and so
	// the largest batch a batch handler gets; 0 means 256, else in
	// [1, 10000].
	PageSize int
	// PollInterval is how long the subscription waits at the head of the
	// log before reading again when no notification comes; 0 means 1s,
	// else in (0, 24h]. With a Listener store (all of bulwark's), new
	// events are delivered as soon as they are announced and polling only
	// covers what the store cannot announce (appends by other processes to
	// SQLite; a lost notification connection).
	PollInterval time.Duration
	// Backoff chooses the wait before listening again after the store's
	// notifications failed (the subscription polls meanwhile), counting
	// the failures in a row; nil means
	// retry.Exponential{Initial: time.Second, Jitter: retry.EqualJitter}.
	Backoff retry.Backoff
	// MaxDelay caps those waits; 0 means 30s, else in (0, 24h].
	MaxDelay time.Duration
	// Clock times the polls and waits. Nil uses clock.System.
	Clock clock.Clock
	// Logger receives a warning when the store's notifications fail. Nil
	// uses slog.Default().
	Logger *slog.Logger
}

// DefaultSubscriptionConfig returns the configuration the zero
// SubscriptionConfig stands for, spelled out.
func DefaultSubscriptionConfig() SubscriptionConfig {
	return SubscriptionConfig{
		PageSize:     256,
		PollInterval: time.Second,
		Backoff:      retry.Exponential{Initial: time.Second, Jitter: retry.EqualJitter},
		MaxDelay:     30 * time.Second,
		Clock:        clock.System,
		Logger:       slog.Default(),
	}
}

// validate returns an error naming the first invalid setting.
func (c *SubscriptionConfig) validate() error {
	if c.Checkpoint < 0 {
		return fmt.Errorf("eventsource: SubscriptionConfig.Checkpoint must be 0 or a position (> 0), got %d", c.Checkpoint)
	}
	for _, err := range []error{
		checkInt("SubscriptionConfig.PageSize", c.PageSize, 1, 10000, 256),
		checkDuration("SubscriptionConfig.PollInterval", c.PollInterval, maxWait, time.Second),
		checkDuration("SubscriptionConfig.MaxDelay", c.MaxDelay, maxWait, 30*time.Second),
		checkBackoff("SubscriptionConfig.Backoff", c.Backoff),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// withDefaults returns c with every zero field set to its default.
func (c SubscriptionConfig) withDefaults() SubscriptionConfig {
	d := DefaultSubscriptionConfig()
	c.PageSize = orDefault(c.PageSize, d.PageSize)
	c.PollInterval = orDefault(c.PollInterval, d.PollInterval)
	c.MaxDelay = orDefault(c.MaxDelay, d.MaxDelay)
	c.Backoff = cmp.Or(c.Backoff, d.Backoff)
	c.Clock = clock.OrSystem(c.Clock)
	c.Logger = cmp.Or(c.Logger, d.Logger)
	return c
}

// Subscription delivers the global log of a Store to a handler: first every
// event after a checkpoint (catch-up), then new events as they are
// committed (live), in global order, each once.
//
// It is a bulwark.Service: New starts nothing; Run delivers until its ctx
// ends (returning ctx's error, wrapped), until Close (returning nil), or
// until the handler or a read of the store fails (returning that error,
// wrapped with the positions concerned; a read error is not retried). Run
// again after a failure to go on from the last event handled; a second
// concurrent Run returns bulwark.ErrRunning, and Run after Close
// bulwark.ErrClosed. Close lets the handler call in flight finish (a batch
// handler its whole batch) and delivers nothing more; when Close's ctx ends
// first, it cancels the handler's context. Run starts no goroutine that
// outlives it.
//
// The checkpoint belongs to the subscriber: Run starts after
// SubscriptionConfig.Checkpoint, and the handler records the position of
// what it handles, ideally in the same transaction as its effect, so that a
// restarted process resumes exactly where the effects stopped.
type Subscription struct {
	store    Store
	cfg      SubscriptionConfig
	name     string // for errors
	handle   func(ctx context.Context, stop <-chan struct{}, page []Event) (handled int64, err error)
	position atomic.Int64
	lc       *lifecycle.State
}

// NewSubscription returns a Subscription to store that calls handle for
// each event, one at a time, or an error naming the first invalid setting.
// When handle fails, the events before it count as handled; Run returns
// the error and the position, and a new Run starts again at the failed
// event.
func NewSubscription(store Store, handle func(ctx context.Context, e Event) error, cfg SubscriptionConfig) (*Subscription, error) {
	if handle == nil {
		return nil, errors.New("eventsource: NewSubscription needs a handler (handle is nil)")
	}
	return newSubscription(store, cfg, func(ctx context.Context, stop <-chan struct{}, page []Event) (int64, error) {
		var handled int64
		for _, e := range page {
			select {
			case <-stop:
				return handled, nil
			default:
			}
			if err := ctx.Err(); err != nil {
				return handled, err
			}
			if err := handle(ctx, e); err != nil {
				return handled, fmt.Errorf("eventsource: subscription handler at position %d (stream %q version %d): %w", e.GlobalPosition, e.StreamID, e.StreamVersion, err)
			}
			handled = e.GlobalPosition
		}
		return handled, nil
	})
}

// NewBatchSubscription is NewSubscription for a handler of whole pages: it
// gets the events of each read of the store together, in order (1 to
// PageSize events), for a subscriber that records a batch and its
// checkpoint in one transaction. When handle fails, no event of its batch
// counts as handled.
func NewBatchSubscription(store Store, handle func(ctx context.Context, events []Event) error, cfg SubscriptionConfig) (*Subscription, error) {
	if handle == nil {
		return nil, errors.New("eventsource: NewBatchSubscription needs a handler (handle is nil)")
	}
	return newSubscription(store, cfg, func(ctx context.Context, _ <-chan struct{}, page []Event) (int64, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err := handle(ctx, page); err != nil {
			return 0, fmt.Errorf("eventsource: subscription handler of positions %d to %d: %w", page[0].GlobalPosition, page[len(page)-1].GlobalPosition, err)
		}
		return page[len(page)-1].GlobalPosition, nil
	})
}

func newSubscription(store Store, cfg SubscriptionConfig, handle func(context.Context, <-chan struct{}, []Event) (int64, error)) (*Subscription, error) {
	if store == nil {
		return nil, errors.New("eventsource: a subscription needs a Store (store is nil)")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Subscription{store: store, cfg: cfg.withDefaults(), handle: handle, lc: lifecycle.New()}
	s.name = "eventsource: subscription"
	if cfg.Name != "" {
		s.name += fmt.Sprintf(" %q", cfg.Name)
	}
	s.position.Store(cfg.Checkpoint)
	return s, nil
}

func (s *Subscription) check() {
	if s.lc == nil {
		panic("eventsource: Subscription used without NewSubscription")
	}
}

// Position returns the global position of the last event handled
// (SubscriptionConfig.Checkpoint before the first): where the next Run
// starts after.
func (s *Subscription) Position() int64 {
	s.check()
	return s.position.Load()
}

// Run delivers the log to the handler, as the Subscription documentation
// says, until ctx ends, Close, or a failure.
func (s *Subscription) Run(ctx context.Context) error {
	s.check()
	work, err := s.lc.Begin(ctx)
	if err != nil {
		return err
	}
	defer s.lc.End()
	err = s.run(work)
	switch {
	case err == nil: // stopped by Close
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s stopped: %w", s.name, ctx.Err())
	case work.Err() != nil && s.lc.Closed(): // Close stopped waiting and cancelled the work
		return nil
	}
	return err
}

// Close stops Run, waiting within ctx for the handler call in flight (see
// Subscription). It returns nil once Run has returned, or ctx's error,
// wrapped, when ctx ended first. It may be called before Run, more than
// once, and from any goroutine.
func (s *Subscription) Close(ctx context.Context) error {
	s.check()
	return s.lc.Close(ctx, s.name)
}

// run reads the log after the position page by page, hands each non-empty
// page to the handler, and follows the log live. It returns nil once
// stopped by Close.
func (s *Subscription) run(ctx context.Context) error {
	stop := s.lc.Stop
	wake := make(chan struct{}, 1)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	if l, ok := s.store.(Listener); ok {
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.listen(lctx, l, signal)
		}()
		defer func() {
			cancel()
			<-done
		}()
	}
	// reported: CaughtUp has been reported since the last event handled.
	reported := false
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		pos := s.position.Load()
		page, err := s.store.ReadAll(ctx, pos+1, s.cfg.PageSize)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s reading after position %d: %w", s.name, pos, err)
		}
		if len(page) > 0 {
			handled, err := s.handle(ctx, stop, page)
			if handled > 0 {
				s.position.Store(handled)
				reported = false
			}
			if err != nil {
				return err
			}
			if handled != page[len(page)-1].GlobalPosition { // stopped between events
				return nil
			}
		}
		if len(page) == s.cfg.PageSize {
			continue
		}
		if !reported && s.cfg.Observer != nil {
			s.cfg.Observer.Observe(ctx, CaughtUp{Name: s.cfg.Name, Position: s.position.Load()})
		}
		reported = true
		if err := s.wait(ctx, stop, wake); err != nil {
			return err
		}
	}
}

// wait returns when woken, after PollInterval, or with ctx.Err(); nil also
// when stopped (run then sees stop).
func (s *Subscription) wait(ctx context.Context, stop, wake <-chan struct{}) error {
	t := s.cfg.Clock.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C():
	case <-stop:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// listen keeps the store's notifications flowing into signal until ctx is
// done, listening again after each failure once Backoff's wait is over.
func (s *Subscription) listen(ctx context.Context, l Listener, signal func()) {
	var failures int
	var prev time.Duration
	for {
		var listening atomic.Bool
		err := l.Listen(ctx, func() {
			listening.Store(true)
			signal()
		})
		if ctx.Err() != nil {
			return
		}
		if listening.Load() {
			failures, prev = 0, 0 // it had worked: start the backoff over
		}
		failures++
		wait := s.cfg.Backoff.Wait(failures, prev, s.cfg.MaxDelay)
		prev = wait
		s.cfg.Logger.Warn("eventsource: subscription notifications failed; polling until they are back",
			"subscription", s.cfg.Name, "retry_in", wait, "error", err)
		signal() // events may have been committed unannounced
		if clock.Sleep(ctx, s.cfg.Clock, wait) != nil {
			return
		}
	}
}
