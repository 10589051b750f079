package outbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// finishTimeout bounds recording a batch's outcome after the relay's context
// ended, so that what was published is not published again needlessly.
const finishTimeout = 10 * time.Second

// Relay moves committed messages from a Store to a Publisher: it claims a
// batch, publishes it (each key's messages in order, several keys at once),
// and records the outcome. A failed publish is retried after a wait chosen
// by Config.Backoff; after Config.MaxAttempts, or at once when the
// Publisher refuses the message as invalid (ErrInvalidMessage), the message
// becomes a dead letter.
//
// Delivery is at least once: a message is forgotten only after the
// publisher accepted it and the store recorded that, so a relay that dies in
// between publishes it again when it (or another relay) claims it. Several
// relays may run against one store; each message is held by one claim at a
// time.
//
// Relay is a bulwark.Service: NewRelay starts nothing, Run relays until its
// context ends or Close, and Close stops it. A Relay made without NewRelay
// panics from every method.
type Relay struct {
	store    Store
	pub      Publisher
	cfg      Config // resolved: no zero field means a default
	clock    clock.Clock
	log      *slog.Logger
	listener Listener

	wake    chan struct{} // buffered 1: a notification or a Replay is waiting
	closing chan struct{} // closed by the first Close

	mu      sync.Mutex
	running bool
	closed  bool
	abort   context.CancelFunc // ends the running Run's work, recording included
	done    chan struct{}      // closed when the last Run returned

	nextRetry atomic.Int64 // unix nanos of the earliest retry this relay scheduled; 0 for none
	inHooks   atomic.Bool  // Run's goroutine is reporting events
}

var _ bulwark.Service = (*Relay)(nil)

// NewRelay returns a relay from store to pub, or an error naming a nil
// collaborator or the first invalid setting of cfg (see Config; the zero
// Config is the defaults). It starts nothing: call Run.
func NewRelay(store Store, pub Publisher, cfg Config) (*Relay, error) {
	if store == nil {
		return nil, errors.New("outbox: NewRelay: store must not be nil")
	}
	if pub == nil {
		return nil, errors.New("outbox: NewRelay: pub must not be nil")
	}
	cfg, err := cfg.resolve()
	if err != nil {
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
	r.log = cmp.Or(r.log, slog.Default())
	r.listener, _ = store.(Listener)
	return r, nil
}

// check panics on a Relay not made by NewRelay.
func (r *Relay) check() {
	if r == nil || r.store == nil {
		panic("outbox: Relay used without NewRelay")
	}
}

// Run relays messages until ctx is done (it then returns ctx's error,
// wrapped) or Close is called (it then returns nil). A Run while another is
// running returns bulwark.ErrRunning; a Run after Close returns
// bulwark.ErrClosed.
//
// Run processes batch after batch while full batches come back; then it
// waits for the store's notification (see Listener), the poll interval, or
// the earliest retry it scheduled, whichever comes first. A failed claim is
// logged and tried again after a pause that grows up to the poll interval.
// With Config.Retention set, Run also deletes, every CleanupInterval, the
// published messages kept longer than Retention.
//
// When ctx ends mid-batch, publishing stops, the messages already published
// are recorded (for at most 10 s more), the rest are released unchanged,
// and Run returns.
func (r *Relay) Run(ctx context.Context) error {
	r.check()
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return bulwark.ErrClosed
	case r.running:
		r.mu.Unlock()
		return bulwark.ErrRunning
	}
	// hard carries ctx's values but ends only when Close's own context ends
	// first (or Run returns): it bounds the recording of an outcome, which
	// outlives ctx.
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	work, cancel := context.WithCancel(ctx)
	abort := func() { cancel(); cancelHard() }
	done := make(chan struct{})
	r.running, r.abort, r.done = true, abort, done
	r.mu.Unlock()
	defer func() {
		abort()
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
		close(done)
	}()

	var wg sync.WaitGroup
	if r.listener != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.listen(work) }()
	}
	if r.cfg.Retention > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); r.cleanup(work) }()
	}
	err := r.loop(work, hard)
	cancel()
	wg.Wait()
	return err
}

func (r *Relay) loop(ctx, hard context.Context) error {
	var failures int
	var carried Batch // claimed together with the previous batch's outcome
	defer func() {
		if carried != nil {
			rctx, cancel := context.WithTimeout(hard, finishTimeout)
			_ = carried.Release(rctx)
			cancel()
		}
	}()
	for {
		if r.isClosing() {
			return nil
		}
		if ctx.Err() != nil {
			return r.stopErr(ctx)
		}
		res, next, err := r.process(ctx, hard, carried, true)
		carried = next
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			return r.stopErr(ctx)
		case err != nil:
			failures++
			wait = recoveryBackoff.Wait(failures, 0, r.cfg.PollInterval)
			r.log.WarnContext(ctx, "outbox: relay batch failed", "relay", r.cfg.Name, "error", err, "retry_in", wait)
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

// stopErr is Run's result once ctx is done: nil if Close ended it.
func (r *Relay) stopErr(ctx context.Context) error {
	if r.isClosing() {
		return nil
	}
	return fmt.Errorf("outbox: relay stopped: %w", ctx.Err())
}

func (r *Relay) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// recoveryBackoff paces the relay after its store fails: the next batch
// after a failed one, and listening again after lost notifications. Waits
// double from 100ms and never exceed PollInterval, the pace the relay keeps
// anyway by polling.
var recoveryBackoff = retry.Exponential{Initial: 100 * time.Millisecond, Jitter: retry.NoJitter}

func (r *Relay) listen(ctx context.Context) {
	for failures := 0; ; failures++ {
		err := r.listener.Listen(ctx, r.signal)
		if ctx.Err() != nil {
			return
		}
		wait := recoveryBackoff.Wait(failures+1, 0, r.cfg.PollInterval)
		r.log.WarnContext(ctx, "outbox: relay lost its store notifications; polling until they are back", "relay", r.cfg.Name, "error", err, "retry_in", wait)
		r.signal()
		if clock.Sleep(ctx, r.clock, wait) != nil {
			return
		}
	}
}

func (r *Relay) cleanup(ctx context.Context) {
	for clock.Sleep(ctx, r.clock, r.cfg.CleanupInterval) == nil {
		if _, err := r.store.Cleanup(ctx, r.clock.Now().Add(-r.cfg.Retention)); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "outbox: deleting published messages failed", "relay", r.cfg.Name, "error", err)
		}
	}
}

// Close stops the relay and waits, within ctx, for Run to return: Run
// claims no more batches and starts no more publishes, lets the publishes
// under way finish, records the batch's outcome (what was not published is
// released unchanged, for the next claim) and returns nil. Close then
// returns nil.
//
// When ctx ends first, Close cancels what is left — the publishes under
// way and the recording of the outcome — and returns ctx's error, wrapped,
// once Run has returned (promptly, as every Publisher and Store returns
// when its context ends). A store records a batch's outcome in one
// transaction, so a cancelled recording leaves the batch as it was claimed,
// never half-recorded: its messages are published again (at least once).
//
// Close may be called before Run (Run then returns bulwark.ErrClosed), more
// than once (each call waits as the first does) and from any goroutine.
// Called while Run reports events (from an Observer, say), Close does not
// wait: the batch's outcome is already recorded, and Run returns once the
// Observer does.
func (r *Relay) Close(ctx context.Context) error {
	r.check()
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.closing)
	}
	abort, done := r.abort, r.done
	r.mu.Unlock()
	if done == nil || r.inHooks.Load() {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		abort()
		<-done
		return fmt.Errorf("outbox: closing the relay: %w", ctx.Err())
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
// itself (each call is one claim). After Close it returns bulwark.ErrClosed.
//
// When ctx ends mid-batch, publishing stops, the messages already published
// are recorded (for at most 10 s more), the rest are released unchanged,
// and the error wraps ctx.Err().
func (r *Relay) ProcessBatch(ctx context.Context) (BatchResult, error) {
	r.check()
	if r.isClosing() {
		return BatchResult{}, bulwark.ErrClosed
	}
	res, _, err := r.process(ctx, context.WithoutCancel(ctx), nil, false)
	return res, err
}

func (r *Relay) claimRequest(now time.Time) ClaimRequest {
	return ClaimRequest{Limit: r.cfg.BatchSize, Now: now, Lease: r.cfg.Lease, SkipDeadLetters: r.cfg.SkipDeadLetters}
}

// process publishes batch b (claiming one when b is nil) and records the
// outcome, under hard (which outlives ctx) for at most finishTimeout.
// chain is set on Run's goroutine: then, with a full batch, a store that
// supports it and the relay not closing, it claims the next batch in the
// same round trip as the outcome and returns it.
func (r *Relay) process(ctx, hard context.Context, b Batch, chain bool) (BatchResult, Batch, error) {
	now := r.clock.Now()
	if b == nil {
		var err error
		if b, err = r.store.Claim(ctx, r.claimRequest(now)); err != nil {
			return BatchResult{}, nil, fmt.Errorf("outbox: claiming messages: %w", err)
		}
	}
	fctx, fcancel := context.WithTimeout(hard, finishTimeout)
	defer fcancel()
	msgs := b.Messages()
	res := BatchResult{Claimed: len(msgs), Contended: b.Contended()}
	if len(msgs) == 0 {
		return res, nil, b.Release(fctx)
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
	obs := r.cfg.Observer
	for i, pr := range results {
		m := msgs[i]
		switch pr.state {
		case published:
			res.Published++
			if obs != nil {
				obs.Observe(ctx, Published{Relay: r.cfg.Name, Message: m.Message, Attempts: m.Attempts})
			}
		case retried:
			res.Retried++
			if obs != nil {
				obs.Observe(ctx, PublishFailed{Relay: r.cfg.Name, Message: m.Message, Attempts: m.Attempts + 1, Err: pr.err, RetryAt: pr.retryAt})
			}
		case dead:
			res.DeadLettered++
			if obs != nil {
				obs.Observe(ctx, DeadLettered{Relay: r.cfg.Name, Message: m.Message, Attempts: m.Attempts + 1, Err: pr.err, Invalid: pr.invalid})
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
	invalid bool // err matched ErrInvalidMessage
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

// publishKey publishes the messages idx of one key in order, until one
// fails, ctx ends or the relay is closing (a message not started then is
// left untried, for the next claim).
func (r *Relay) publishKey(ctx context.Context, msgs []Claimed, idx []int, results []publishResult, now time.Time) {
	for _, i := range idx {
		if ctx.Err() != nil || r.isClosing() {
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
		switch invalid := errors.Is(err, ErrInvalidMessage); {
		case invalid || (r.cfg.MaxAttempts != Unlimited && attempts >= r.cfg.MaxAttempts):
			results[i] = publishResult{state: dead, err: err, invalid: invalid}
		default:
			results[i] = publishResult{state: retried, err: err, retryAt: now.Add(r.cfg.Backoff.Wait(attempts, 0, r.cfg.MaxDelay))}
		}
		return
	}
}

func (r *Relay) publishOne(ctx context.Context, m Message) error {
	if r.cfg.PublishTimeout == NoTimeout {
		return r.pub.Publish(ctx, m)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	defer cancel()
	return r.pub.Publish(ctx, m)
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
	r.check()
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
