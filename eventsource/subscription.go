package eventsource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// SubscriptionConfig configures a Subscription.
type SubscriptionConfig struct {
	// PageSize is the most events read from the store at a time; 1 to
	// 10000. DefaultSubscriptionConfig sets 256.
	PageSize int
	// PollInterval is how long the subscription waits at the head of the
	// log before reading again when no notification comes; more than 0.
	// With a Listener store (all of bulwark's), new events are delivered
	// as soon as they are announced and polling only covers what the store
	// cannot announce (appends by other processes to SQLite; a lost
	// notification connection). DefaultSubscriptionConfig sets 1s.
	PollInterval time.Duration
	// OnCaughtUp, if set, is called when the subscription has handled every
	// event the store can deliver so far and is about to wait for more:
	// first when it has caught up, then after each batch of live events.
	// (A store may hold committed events back behind an append still in
	// flight; they follow when it ends.) It gets the position of the last
	// event handled (the checkpoint).
	OnCaughtUp func(position int64)
	// Clock times the polling. Nil uses clock.System.
	Clock clock.Clock
	// Logger receives a warning when the store's notifications fail (the
	// subscription polls meanwhile and listens again). Nil uses
	// slog.Default().
	Logger *slog.Logger
}

// DefaultSubscriptionConfig returns a configuration with PageSize 256 and
// PollInterval 1s.
func DefaultSubscriptionConfig() SubscriptionConfig {
	return SubscriptionConfig{PageSize: 256, PollInterval: time.Second}
}

// Subscription delivers the global log of a Store to a handler: first every
// event after a checkpoint (catch-up), then new events as they are
// committed (live), one at a time, in global order, each once per Run.
//
// The checkpoint belongs to the subscriber: Run starts after the position it
// is given, and the handler records the position of each event it handles,
// ideally in the same transaction as its effect, so that a restart resumes
// exactly where the effects stopped.
type Subscription struct {
	store Store
	cfg   SubscriptionConfig
}

// NewSubscription returns a Subscription to store, or an error naming the
// first invalid setting.
func NewSubscription(store Store, cfg SubscriptionConfig) (*Subscription, error) {
	switch {
	case store == nil:
		return nil, errors.New("eventsource: NewSubscription needs a Store")
	case cfg.PageSize < 1 || cfg.PageSize > 10000:
		return nil, fmt.Errorf("eventsource: SubscriptionConfig.PageSize must be in [1, 10000], got %d", cfg.PageSize)
	case cfg.PollInterval <= 0:
		return nil, fmt.Errorf("eventsource: SubscriptionConfig.PollInterval must be more than 0, got %v", cfg.PollInterval)
	}
	cfg.Clock = clock.OrSystem(cfg.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Subscription{store: store, cfg: cfg}, nil
}

// Run calls handle for every event with a global position greater than
// checkpoint (0 for the whole log), in order, and keeps following the log
// until ctx is done or handle fails. It returns ctx.Err(), or the error of
// handle or of a read, wrapped with the position it stopped at; a read
// error is not retried: run again from the subscriber's checkpoint (under a
// retry policy, for instance). Run starts no goroutine that outlives it.
func (s *Subscription) Run(ctx context.Context, checkpoint int64, handle func(ctx context.Context, e Event) error) error {
	if handle == nil {
		return invalidf("Subscription.Run needs a handler")
	}
	return s.run(ctx, checkpoint, func(ctx context.Context, page []Event) error {
		for _, e := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := handle(ctx, e); err != nil {
				return fmt.Errorf("eventsource: subscription handler at position %d (stream %q version %d): %w", e.GlobalPosition, e.StreamID, e.StreamVersion, err)
			}
		}
		return nil
	})
}

// RunBatches is Run with the events of each read of the store handed to
// handle together, in order: batches of 1 to PageSize events, for a
// subscriber that records a whole batch and its checkpoint in one
// transaction. When handle fails, no event of its batch counts as handled:
// run again from the subscriber's checkpoint. It returns ctx.Err(), or the
// error of handle or of a read, wrapped with the positions concerned.
func (s *Subscription) RunBatches(ctx context.Context, checkpoint int64, handle func(ctx context.Context, events []Event) error) error {
	if handle == nil {
		return invalidf("Subscription.RunBatches needs a handler")
	}
	return s.run(ctx, checkpoint, func(ctx context.Context, page []Event) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := handle(ctx, page); err != nil {
			return fmt.Errorf("eventsource: subscription handler of positions %d to %d: %w", page[0].GlobalPosition, page[len(page)-1].GlobalPosition, err)
		}
		return nil
	})
}

// run reads the log after checkpoint page by page, passes each non-empty
// page to handlePage, and follows the log live; see Run.
func (s *Subscription) run(ctx context.Context, checkpoint int64, handlePage func(ctx context.Context, page []Event) error) error {
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
	// reported: OnCaughtUp has been called since the last event handled.
	pos, reported := checkpoint, false
	for {
		page, err := s.store.ReadAll(ctx, pos+1, s.cfg.PageSize)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("eventsource: subscription reading after position %d: %w", pos, err)
		}
		if len(page) > 0 {
			if err := handlePage(ctx, page); err != nil {
				return err
			}
			pos, reported = page[len(page)-1].GlobalPosition, false
		}
		if len(page) == s.cfg.PageSize {
			continue
		}
		if s.cfg.OnCaughtUp != nil && !reported {
			s.cfg.OnCaughtUp(pos)
		}
		reported = true
		if err := s.wait(ctx, wake); err != nil {
			return err
		}
	}
}

// wait returns when woken, after PollInterval, or with ctx.Err().
func (s *Subscription) wait(ctx context.Context, wake <-chan struct{}) error {
	t := s.cfg.Clock.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-wake:
		return nil
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// listen keeps the store's notifications flowing into signal until ctx is
// done, listening again a PollInterval after each failure.
func (s *Subscription) listen(ctx context.Context, l Listener, signal func()) {
	for {
		err := l.Listen(ctx, signal)
		if ctx.Err() != nil {
			return
		}
		s.cfg.Logger.Warn("eventsource: subscription notifications failed; polling until they are back", "error", err)
		signal() // events may have been committed unannounced
		if clock.Sleep(ctx, s.cfg.Clock, s.cfg.PollInterval) != nil {
			return
		}
	}
}
