package saga

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

// Config configures an Orchestrator. Start from DefaultConfig.
type Config struct {
	// InstanceID names this orchestrator instance as the owner of the leases
	// it holds. Empty means a random ID, new for every New.
	InstanceID string
	// LeaseDuration is how long a saga stays with the instance driving it
	// without news from that instance; every transition and a background
	// renewal every LeaseDuration/3 extend it. When an instance dies, other
	// instances take its sagas over this long after its last renewal. It
	// must exceed the clock skew between instances. Must be > 0.
	LeaseDuration time.Duration
	// PollInterval is how often Run looks for sagas to take over. Must be > 0.
	PollInterval time.Duration
	// Concurrency is how many taken-over sagas Run and Recover drive at once.
	// Must be >= 1.
	Concurrency int
	// CompensationAttempts is how many times a compensation is tried (each
	// try through the step's Policy) before the saga needs attention.
	// Must be >= 1.
	CompensationAttempts int
	// RetriableAttempts is how many times a retriable step is tried before
	// the saga needs attention. Zero means until it succeeds. Must be >= 0.
	RetriableAttempts int
	// RetryDelay is the wait after the first failed try of a compensation
	// or retriable step; it doubles with every further failure up to
	// MaxRetryDelay, and each wait is jittered down by up to half.
	// RetryDelay must be > 0 and MaxRetryDelay >= RetryDelay.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// Clock is the time source; nil means clock.System.
	Clock clock.Clock
	// Logger receives what no caller can be told: sagas that need
	// attention, store errors of background work, panicking steps. Nil
	// means slog.Default().
	Logger *slog.Logger

	// Hooks, each optional, called synchronously outside any lock by the
	// goroutine driving the saga; a hook may call the Orchestrator.

	// OnStepStarted is called before each invocation of an action or
	// compensation.
	OnStepStarted func(StepEvent)
	// OnStepCompleted is called after each successful invocation.
	OnStepCompleted func(StepEvent)
	// OnStepFailed is called after each failed invocation, with Err set.
	OnStepFailed func(StepEvent)
	// OnCompensating is called when a saga starts compensating, with the
	// cause in Err, after the transition has been persisted.
	OnCompensating func(SagaEvent)
	// OnFinished is called when a saga reaches a terminal status
	// (Completed, Compensated, NeedsAttention, Abandoned), after the
	// transition has been persisted.
	OnFinished func(SagaEvent)
}

// StepEvent describes one invocation of an action or compensation.
type StepEvent struct {
	Invocation
	Err error // the invocation's error, for OnStepFailed
}

// SagaEvent describes a saga's transition to Compensating or a terminal
// status.
type SagaEvent struct {
	SagaID string
	Status Status
	Err    error // the cause; nil for Completed
}

// DefaultConfig returns the defaults: leases of 30s polled every 5s, 16
// sagas recovered at once, 10 compensation attempts, retriable steps tried
// until they succeed, retry delays from 100ms doubling up to 30s.
func DefaultConfig() Config {
	return Config{
		LeaseDuration:        30 * time.Second,
		PollInterval:         5 * time.Second,
		Concurrency:          16,
		CompensationAttempts: 10,
		RetryDelay:           100 * time.Millisecond,
		MaxRetryDelay:        30 * time.Second,
	}
}

func (c Config) validate() error {
	switch {
	case c.LeaseDuration <= 0:
		return fmt.Errorf("saga: Config.LeaseDuration must be > 0, got %v", c.LeaseDuration)
	case c.PollInterval <= 0:
		return fmt.Errorf("saga: Config.PollInterval must be > 0, got %v", c.PollInterval)
	case c.Concurrency < 1:
		return fmt.Errorf("saga: Config.Concurrency must be >= 1, got %d", c.Concurrency)
	case c.CompensationAttempts < 1:
		return fmt.Errorf("saga: Config.CompensationAttempts must be >= 1, got %d", c.CompensationAttempts)
	case c.RetriableAttempts < 0:
		return fmt.Errorf("saga: Config.RetriableAttempts must be >= 0 (0: until success), got %d", c.RetriableAttempts)
	case c.RetryDelay <= 0:
		return fmt.Errorf("saga: Config.RetryDelay must be > 0, got %v", c.RetryDelay)
	case c.MaxRetryDelay < c.RetryDelay:
		return fmt.Errorf("saga: Config.MaxRetryDelay must be >= RetryDelay (%v), got %v", c.RetryDelay, c.MaxRetryDelay)
	}
	return nil
}

// Orchestrator runs sagas of one Definition against a Store.
//
// Each transition of a saga (a step completed, compensation begun, a
// compensation completed, a terminal status) is written to the store before
// the next action or compensation runs, so after a crash Run or Recover
// resumes every unfinished saga where its log says, by any instance. One
// instance drives a saga at a time: it holds a lease on it, and every write
// is conditional on the saga's version, so an instance that lost its lease
// stops at its next transition.
//
// An Orchestrator is safe for concurrent use. Close it to stop its
// background work.
type Orchestrator[T any] struct {
	def      Definition[T]
	codec    Codec[T]
	noReturn int // index of the pivot or first retriable step
	store    Store
	cfg      Config
	clk      clock.Clock
	log      *slog.Logger

	stop      context.Context // cancelled by Close
	closeStop context.CancelFunc
	wg        sync.WaitGroup // heartbeat and every driving goroutine

	mu     sync.Mutex
	closed bool
	active map[*execution[T]]struct{} // sagas being driven, for lease renewal
}

// New validates def and cfg and returns an Orchestrator that drives sagas of
// def in store. It starts the goroutine that renews leases; Close stops it.
func New[T any](def Definition[T], store Store, cfg Config) (*Orchestrator[T], error) {
	noReturn, err := def.validate()
	if err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("saga: store must not be nil")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = rand.Text()
	}
	def.Steps = append([]Step[T](nil), def.Steps...)
	o := &Orchestrator[T]{
		def:      def,
		codec:    def.Codec,
		noReturn: noReturn,
		store:    store,
		cfg:      cfg,
		clk:      clock.OrSystem(cfg.Clock),
		log:      cfg.Logger,
		active:   make(map[*execution[T]]struct{}),
	}
	if o.codec == nil {
		o.codec = JSON[T]{}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.stop, o.closeStop = context.WithCancel(context.Background())
	o.wg.Add(1)
	go o.heartbeat()
	return o, nil
}

// InstanceID returns the ID this orchestrator holds leases under.
func (o *Orchestrator[T]) InstanceID() string { return o.cfg.InstanceID }

// Execute starts a saga with the given ID (unique in the store; an error
// matching ErrExists if not) and data, and drives it to its end.
//
// It returns nil when the saga completed, and an *Error matching
// ErrCompensated (with the failing step's error) when it was compensated or
// ErrNeedsAttention when a compensation failed past its limit.
//
// Cancelling ctx before the saga reaches its point of no return (the pivot,
// or the first retriable step) cancels the running step and compensates the
// saga; after it, the saga goes on. Either way Execute returns ctx's error
// at once while the orchestrator finishes the saga in the background, in a
// context that keeps ctx's values but not its cancellation: compensations
// are never cut short by the caller going away. Close stops that work at
// its next transition, and Run or Recover resume it later.
func (o *Orchestrator[T]) Execute(ctx context.Context, id string, data T) error {
	if id == "" {
		return errors.New("saga: Execute: id must not be empty")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("saga %s: not started: %w", id, err)
	}
	e := &execution[T]{o: o, id: id, data: data}
	enc, err := o.codec.Marshal(&e.data)
	if err != nil {
		return fmt.Errorf("saga %s: encoding data: %w", id, err)
	}
	now := o.clk.Now()
	e.rec = Record{
		ID: id, Name: o.def.Name, Status: Running, Data: enc,
		Owner: o.cfg.InstanceID, LeaseUntil: now.Add(o.cfg.LeaseDuration),
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if o.def.Timeout > 0 {
		e.rec.Deadline = now.Add(o.def.Timeout)
	}
	if !o.begin(e) {
		return ErrClosed
	}
	if err := o.store.Create(ctx, e.rec); err != nil {
		o.end(e)
		return fmt.Errorf("saga %s: creating: %w", id, err)
	}
	return o.driveFor(ctx, e)
}

// driveFor drives e in a goroutine of its own, already counted by begin,
// and waits for the outcome or for ctx to end.
func (o *Orchestrator[T]) driveFor(ctx context.Context, e *execution[T]) error {
	done := make(chan error, 1)
	go func() {
		defer o.end(e)
		done <- e.drive(ctx, context.WithoutCancel(ctx))
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done:
			return err
		default:
		}
		return fmt.Errorf("saga %s: stopped waiting; the orchestrator finishes the saga: %w", e.id, ctx.Err())
	}
}

// begin registers e as driven by this orchestrator; false once closed.
func (o *Orchestrator[T]) begin(e *execution[T]) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.wg.Add(1)
	o.active[e] = struct{}{}
	return true
}

func (o *Orchestrator[T]) end(e *execution[T]) {
	o.mu.Lock()
	delete(o.active, e)
	o.mu.Unlock()
	o.wg.Done()
}

// Close stops the orchestrator: Run and Recover return, and sagas being
// driven stop at their next transition (running actions and compensations
// see their context cancelled); their leases are released so that another
// instance can take them over at once. Close waits for all of that, and is
// idempotent. Execute, Resume, Run and Recover return ErrClosed afterwards.
func (o *Orchestrator[T]) Close() error {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.closeStop()
	o.wg.Wait()
	return nil
}

// Snapshot is a saga as its log stands, with its data decoded.
type Snapshot[T any] struct {
	ID     string
	Status Status
	// Step names the step Record.Step points at: the next to run
	// (Running), to compensate (Compensating) or the stuck one
	// (NeedsAttention, Abandoned); empty when Completed or Compensated.
	Step       string
	Data       T
	Error      string
	Deadline   time.Time
	Owner      string
	LeaseUntil time.Time
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (o *Orchestrator[T]) snapshot(rec Record) (Snapshot[T], error) {
	s := Snapshot[T]{
		ID: rec.ID, Status: rec.Status, Error: rec.Error, Deadline: rec.Deadline,
		Owner: rec.Owner, LeaseUntil: rec.LeaseUntil, Version: rec.Version,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
	}
	if rec.Status != Completed && rec.Status != Compensated && rec.Step >= 0 && rec.Step < len(o.def.Steps) {
		s.Step = o.def.Steps[rec.Step].Name
	}
	if err := o.codec.Unmarshal(rec.Data, &s.Data); err != nil {
		return s, fmt.Errorf("saga %s: decoding data: %w", rec.ID, err)
	}
	return s, nil
}

// Get returns the saga id of this orchestrator's definition, or an error
// matching ErrNotFound.
func (o *Orchestrator[T]) Get(ctx context.Context, id string) (Snapshot[T], error) {
	rec, err := o.store.Get(ctx, id)
	if err != nil {
		return Snapshot[T]{}, fmt.Errorf("saga %s: %w", id, err)
	}
	if rec.Name != o.def.Name {
		return Snapshot[T]{}, fmt.Errorf("saga %s is a %q saga, not %q: %w", id, rec.Name, o.def.Name, ErrNotFound)
	}
	return o.snapshot(rec)
}

// List returns the sagas of this orchestrator's definition that q selects
// (q.Name is ignored), ordered by ID: for example every saga that needs
// attention, ListQuery{Status: NeedsAttention}.
func (o *Orchestrator[T]) List(ctx context.Context, q ListQuery) ([]Snapshot[T], error) {
	q.Name = o.def.Name
	recs, err := o.store.List(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("saga: listing: %w", err)
	}
	out := make([]Snapshot[T], 0, len(recs))
	for _, rec := range recs {
		s, err := o.snapshot(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Resume takes a saga that needs attention back up where it stopped: the
// stuck compensation (or retriable step) is tried again, with a fresh count
// of attempts, and the saga is driven to its end as by Execute, with the
// same results.
func (o *Orchestrator[T]) Resume(ctx context.Context, id string) error {
	rec, err := o.stuck(ctx, id)
	if err != nil {
		return err
	}
	rec.Status = Compensating
	if rec.Step >= 0 && rec.Step < len(o.def.Steps) && o.def.Steps[rec.Step].Kind == Retriable {
		rec.Status = Running
	}
	now := o.clk.Now()
	rec.Owner, rec.LeaseUntil, rec.UpdatedAt = o.cfg.InstanceID, now.Add(o.cfg.LeaseDuration), now
	e := &execution[T]{o: o, id: id, dirty: true}
	if !o.begin(e) {
		return ErrClosed
	}
	if err := o.store.Update(ctx, rec); err != nil {
		o.end(e)
		return fmt.Errorf("saga %s: resuming: %w", id, err)
	}
	rec.Version++
	e.rec = rec
	return o.driveFor(ctx, e)
}

// Abandon ends a saga that needs attention in status Abandoned, recording
// reason beside its error: the operator takes over responsibility for what
// the saga left behind. No orchestrator touches it again.
func (o *Orchestrator[T]) Abandon(ctx context.Context, id, reason string) error {
	rec, err := o.stuck(ctx, id)
	if err != nil {
		return err
	}
	rec.Status = Abandoned
	rec.Error += "; abandoned: " + reason
	rec.UpdatedAt = o.clk.Now()
	if err := o.store.Update(ctx, rec); err != nil {
		return fmt.Errorf("saga %s: abandoning: %w", id, err)
	}
	if o.cfg.OnFinished != nil {
		o.cfg.OnFinished(SagaEvent{SagaID: id, Status: Abandoned, Err: errors.New(rec.Error)})
	}
	return nil
}

// stuck returns the saga id if it is of this definition and needs attention.
func (o *Orchestrator[T]) stuck(ctx context.Context, id string) (Record, error) {
	if o.isClosed() {
		return Record{}, ErrClosed
	}
	rec, err := o.store.Get(ctx, id)
	if err != nil {
		return Record{}, fmt.Errorf("saga %s: %w", id, err)
	}
	if rec.Name != o.def.Name {
		return Record{}, fmt.Errorf("saga %s is a %q saga, not %q: %w", id, rec.Name, o.def.Name, ErrNotFound)
	}
	if rec.Status != NeedsAttention {
		return Record{}, fmt.Errorf("saga %s is %s: %w", id, rec.Status, ErrNotNeedingAttention)
	}
	return rec, nil
}

func (o *Orchestrator[T]) isClosed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closed
}
