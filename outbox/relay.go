package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/cenkalti/backoff/v4"
)

// ErrRelayClosed is returned by Run on a relay that was closed.
var ErrRelayClosed = errors.New("outbox: relay closed")

// ErrRelayRunning is returned by Run on a relay that is already running.
var ErrRelayRunning = errors.New("outbox: relay already running")

// finishTimeout bounds recording a batch's outcome after the relay's context
// ended, so that what was published is not published again needlessly.
const finishTimeout = 10 * time.Second

// Relay moves committed messages from a Store to a Publisher: it claims a
// batch, publishes it (each key's messages in order, several keys at once),
// and records the outcome. A failed publish is retried with exponential
// backoff; after Config.MaxAttempts the message becomes a dead letter.
//
// Delivery is at least once: a message is forgotten only after the
// publisher accepted it and the store recorded that, so a relay that dies in
// between publishes it again when it (or another relay) claims it. Several
// relays may run against one store; each message is held by one claim at a
// time.
type Relay struct {
	store    Store
	pub      Publisher
	cfg      Config
	clock    clock.Clock
	log      *slog.Logger
	listener Listener

	wake    chan struct{} // buffered 1: a notification or a Replay is waiting
	closing chan struct{}

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	nextRetry atomic.Int64 // unix nanos of the earliest retry this relay scheduled; 0 for none
	inHooks   atomic.Bool  // Run's goroutine is calling hooks
}

// NewRelay returns a relay from store to pub. It does nothing until Run.
func NewRelay(store Store, pub Publisher, cfg Config) (*Relay, error) {
	if store == nil {
		return nil, errors.New("outbox: NewRelay needs a Store, got nil")
	}
	if pub == nil {
		return nil, errors.New("outbox: NewRelay needs a Publisher, got nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Relay{
		store:   store,
		pub:     pub,
		cfg:     cfg,
		clock:   clock.OrSystem(cfg.Clock),
		log:     cfg.Logger,
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.listener, _ = store.(Listener)
	return r, nil
}

// Run relays messages until ctx is done or Close is called. It returns nil
// after Close, and ctx.Err() when ctx ended it (the batch in flight is then
// abandoned: what was published is recorded, the rest is released).
//
// Run processes batch after batch while full batches come back; then it
// waits for the store's notification (see Listener), the poll interval, or
// the earliest retry it scheduled, whichever comes first. A failed claim is
// logged and tried again after a pause that grows up to the poll interval.
func (r *Relay) Run(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return ErrRelayClosed
	case r.running:
		r.mu.Unlock()
		return ErrRelayRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	r.running, r.cancel, r.done = true, cancel, make(chan struct{})
	done := r.done
	r.mu.Unlock()
	defer close(done)
	defer cancel()

	var wg sync.WaitGroup
	if r.listener != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.listen(ctx) }()
	}
	if r.cfg.Retention > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); r.cleanup(ctx) }()
	}
	err := r.loop(ctx)
	cancel()
	wg.Wait()
	return err
}

func (r *Relay) loop(ctx context.Context) error {
	var failures int
	var carried Batch // claimed together with the previous batch's outcome
	defer func() {
		if carried != nil {
			_ = carried.Release(context.WithoutCancel(ctx))
		}
	}()
	for {
		select {
		case <-r.closing:
			return nil
		default:
		}
		if ctx.Err() != nil {
			return r.stopErr(ctx)
		}
		res, next, err := r.process(ctx, carried, true)
		carried = next
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			return r.stopErr(ctx)
		case err != nil:
			failures++
			wait = min(r.cfg.PollInterval, 50*time.Millisecond<<min(failures, 10))
			r.log.Warn("outbox: relay batch failed", "error", err, "retry_in", wait)
		case res.Claimed == r.cfg.BatchSize:
			failures = 0
			continue
		case res.Contended:
			// Another relay holds the keys of ready messages: look again
			// soon after it is likely done, rather than after a full poll.
			failures = 0
			wait = min(r.cfg.PollInterval, time.Duration(5+rand.IntN(20))*time.Millisecond)
		default:
			failures = 0
			wait = r.cfg.PollInterval
			if next := r.nextRetry.Load(); next != 0 {
				if due := time.Duration(next - r.clock.Now().UnixNano()); due > 0 {
					wait = min(wait, due)
				} else {
					// The retry fell due: look once more at once, for it
					// may have fallen due during this claim, then forget
					// it. Keeping a past time would make every later wait
					// zero and spin the loop.
					r.nextRetry.CompareAndSwap(next, 0)
					wait = 0
				}
			}
		}
		if err := r.pause(ctx, wait); err != nil {
			return err
		}
	}
}

// pause waits for d, a wake-up, Close or ctx.
func (r *Relay) pause(ctx context.Context, d time.Duration) error {
	t := r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
	case <-r.wake:
	case <-r.closing:
	case <-ctx.Done():
		return r.stopErr(ctx)
	}
	return nil
}

// stopErr is Run's result once ctx is done: nil if Close cancelled it.
func (r *Relay) stopErr(ctx context.Context) error {
	select {
	case <-r.closing:
		return nil
	default:
		return ctx.Err()
	}
}

func (r *Relay) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Relay) listen(ctx context.Context) {
	for failures := 0; ; failures++ {
		err := r.listener.Listen(ctx, r.signal)
		if ctx.Err() != nil {
			return
		}
		wait := min(r.cfg.PollInterval, 100*time.Millisecond<<min(failures, 10))
		r.log.Warn("outbox: relay lost its store notifications; polling until they are back", "error", err, "retry_in", wait)
		r.signal()
		if clock.Sleep(ctx, r.clock, wait) != nil {
			return
		}
	}
}

func (r *Relay) cleanup(ctx context.Context) {
	for clock.Sleep(ctx, r.clock, r.cfg.CleanupInterval) == nil {
		if _, err := r.store.Cleanup(ctx, r.clock.Now().Add(-r.cfg.Retention)); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox: deleting published messages failed", "error", err)
		}
	}
}

// Close stops the relay: Run claims no more batches, finishes the one in
// flight and returns nil. If ctx ends first, Close cancels the batch in
// flight (its published messages are recorded, the rest released), waits
// for Run to return and returns ctx.Err(). Close on a relay that is not
// running just stops it from starting; a second Close returns nil. Close
// called from a hook (or while Run is calling hooks) does not wait: Run
// stops once the hooks return.
func (r *Relay) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.closing)
	running, cancel, done := r.running, r.cancel, r.done
	r.mu.Unlock()
	if !running || r.inHooks.Load() {
		// Not running, or perhaps called from a hook on Run's goroutine,
		// which cannot return while Close waits for it.
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cancel()
		<-done
		return ctx.Err()
	}
}

// BatchResult says what ProcessBatch did.
type BatchResult struct {
	// Claimed is the number of messages claimed.
	Claimed int
	// Published, Retried and DeadLettered count the outcomes recorded.
	Published, Retried, DeadLettered int
	// Contended reports that ready messages were left because another
	// relay held earlier messages of their keys.
	Contended bool
}

// ProcessBatch claims one batch, publishes it and records the outcome. Run
// calls it in a loop; call it directly to relay from a scheduled job, or to
// step a relay in a test. It is safe to call concurrently with Run and with
// itself (each call is one claim).
//
// When ctx ends mid-batch, publishing stops, the messages already published
// are recorded, the rest are released unchanged, and the error wraps
// ctx.Err().
func (r *Relay) ProcessBatch(ctx context.Context) (BatchResult, error) {
	res, _, err := r.process(ctx, nil, false)
	return res, err
}

func (r *Relay) claimRequest(now time.Time) ClaimRequest {
	return ClaimRequest{Limit: r.cfg.BatchSize, Now: now, Lease: r.cfg.Lease, SkipDeadLetters: r.cfg.SkipDeadLetters}
}

// process publishes batch b (claiming one when b is nil) and records the
// outcome. chain is set on Run's goroutine: then, with a full batch, a
// store that supports it and the relay not closing, it claims the next
// batch in the same round trip as the outcome and returns it.
func (r *Relay) process(ctx context.Context, b Batch, chain bool) (BatchResult, Batch, error) {
	now := r.clock.Now()
	if b == nil {
		var err error
		if b, err = r.store.Claim(ctx, r.claimRequest(now)); err != nil {
			return BatchResult{}, nil, fmt.Errorf("outbox: claiming messages: %w", err)
		}
	}
	msgs := b.Messages()
	res := BatchResult{Claimed: len(msgs), Contended: b.Contended()}
	if len(msgs) == 0 {
		return res, nil, b.Release(context.WithoutCancel(ctx))
	}
	// Stop publishing a little before the lease ends, leaving time to
	// record the outcome while the claim still holds.
	pctx, cancel := context.WithTimeout(ctx, r.cfg.Lease-r.cfg.Lease/10)
	defer cancel()
	results := r.publish(pctx, msgs, now)

	o := Outcome{Now: r.clock.Now(), Keep: r.cfg.Retention > 0}
	var nextRetry time.Time
	for i, pr := range results {
		switch pr.state {
		case published:
			o.Published = append(o.Published, i)
		case retried, dead:
			o.Failed = append(o.Failed, Failure{Index: i, Error: pr.err.Error(), Dead: pr.state == dead, RetryAt: pr.retryAt})
			if pr.state == retried && (nextRetry.IsZero() || pr.retryAt.Before(nextRetry)) {
				nextRetry = pr.retryAt
			}
		}
	}
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer fcancel()
	var next Batch
	var err error
	if chainer, ok := b.(Chainer); ok && chain && len(msgs) == r.cfg.BatchSize && ctx.Err() == nil && !r.isClosing() {
		next, err = chainer.FinishAndClaim(fctx, o, r.claimRequest(o.Now))
	} else {
		err = b.Finish(fctx, o)
	}
	if err != nil {
		return res, nil, fmt.Errorf("outbox: recording the outcome of %d messages (they will be published again): %w", len(msgs), err)
	}
	if !nextRetry.IsZero() {
		r.noteRetry(nextRetry)
	}
	if chain {
		r.inHooks.Store(true)
		defer r.inHooks.Store(false)
	}
	for i, pr := range results {
		m := msgs[i]
		switch pr.state {
		case published:
			res.Published++
			if r.cfg.OnPublished != nil {
				r.cfg.OnPublished(m.Message)
			}
		case retried:
			res.Retried++
			if r.cfg.OnRetry != nil {
				r.cfg.OnRetry(m.Message, m.Attempts+1, pr.err, pr.retryAt)
			}
		case dead:
			res.DeadLettered++
			if r.cfg.OnDeadLetter != nil {
				r.cfg.OnDeadLetter(m.Message, m.Attempts+1, pr.err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		if next != nil {
			_ = next.Release(fctx)
		}
		return res, nil, fmt.Errorf("outbox: batch stopped: %w", err)
	}
	return res, next, nil
}

func (r *Relay) isClosing() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}

// noteRetry keeps the earliest pending retry time (dropping past ones) so
// that Run wakes for it instead of waiting a whole poll interval.
func (r *Relay) noteRetry(at time.Time) {
	now := r.clock.Now().UnixNano()
	for {
		cur := r.nextRetry.Load()
		if cur != 0 && cur > now && cur <= at.UnixNano() {
			return
		}
		if r.nextRetry.CompareAndSwap(cur, at.UnixNano()) {
			return
		}
	}
}

type publishState uint8

const (
	untried publishState = iota // left for a later claim
	published
	retried
	dead
)

type publishResult struct {
	state   publishState
	err     error
	retryAt time.Time
}

// publish publishes msgs, each key's in order and up to Concurrency keys at
// once. A key stops at its first failure: its later messages stay untried.
func (r *Relay) publish(ctx context.Context, msgs []Claimed, now time.Time) []publishResult {
	results := make([]publishResult, len(msgs))
	// Group indexes by key, keeping each key's order.
	groups := make([][]int, 0, min(len(msgs), 64))
	byKey := make(map[string]int, min(len(msgs), 64))
	for i := range msgs {
		g, ok := byKey[msgs[i].Key]
		if !ok {
			g = len(groups)
			byKey[msgs[i].Key] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	workers := min(r.cfg.Concurrency, len(groups))
	if workers == 1 {
		for _, g := range groups {
			r.publishKey(ctx, msgs, g, results, now)
		}
		return results
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			for {
				g := int(next.Add(1)) - 1
				if g >= len(groups) {
					return
				}
				r.publishKey(ctx, msgs, groups[g], results, now)
			}
		}()
	}
	wg.Wait()
	return results
}

func (r *Relay) publishKey(ctx context.Context, msgs []Claimed, idx []int, results []publishResult, now time.Time) {
	for _, i := range idx {
		if ctx.Err() != nil {
			return
		}
		err := r.publishOne(ctx, msgs[i].Message)
		if err == nil {
			results[i].state = published
			continue
		}
		if ctx.Err() != nil {
			return // the relay stopped: not the message's fault
		}
		attempts := msgs[i].Attempts + 1
		if r.cfg.MaxAttempts > 0 && attempts >= r.cfg.MaxAttempts {
			results[i] = publishResult{state: dead, err: err}
		} else {
			results[i] = publishResult{state: retried, err: err, retryAt: now.Add(r.retryDelay(attempts))}
		}
		return
	}
}

func (r *Relay) publishOne(ctx context.Context, m Message) error {
	if r.cfg.PublishTimeout == 0 {
		return r.pub.Publish(ctx, m)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	return r.pub.Publish(ctx, m)
}

// retryDelay is the wait after the given number of failed attempts:
// exponential from RetryInitialInterval, capped at RetryMaxInterval, with
// RetryJitter applied.
func (r *Relay) retryDelay(attempts int) time.Duration {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.cfg.RetryInitialInterval,
		RandomizationFactor: r.cfg.RetryJitter,
		Multiplier:          2,
		MaxInterval:         r.cfg.RetryMaxInterval,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	var d time.Duration
	for range attempts {
		d = b.NextBackOff()
	}
	return d
}

// RelayStats is a snapshot of a relay's backlog.
type RelayStats struct {
	// Backlog is the number of messages not yet published.
	Backlog int
	// Lag is the age of the oldest unpublished message; 0 with no backlog.
	Lag time.Duration
	// DeadLetters is the number of dead letters waiting for Replay or
	// Discard.
	DeadLetters int
}

// Stats reports the backlog and lag of the relay's store.
func (r *Relay) Stats(ctx context.Context) (RelayStats, error) {
	st, err := r.store.Stats(ctx)
	if err != nil {
		return RelayStats{}, fmt.Errorf("outbox: reading store stats: %w", err)
	}
	out := RelayStats{Backlog: st.Pending, DeadLetters: st.DeadLetters}
	if !st.Oldest.IsZero() {
		out.Lag = max(r.clock.Now().Sub(st.Oldest), 0)
	}
	return out, nil
}
