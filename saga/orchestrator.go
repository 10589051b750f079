package saga

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
)

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
// An Orchestrator is a bulwark.Service: New starts nothing, Run takes over
// the sagas of dead instances until its context ends or Close, and Close
// lets the sagas in flight reach their next transition. Execute, Resume
// and Recover work with or without Run. An Orchestrator is safe for
// concurrent use; its zero value is not usable (its methods panic).
type Orchestrator[T any] struct {
	def      Definition[T]
	codec    Codec[T]
	noReturn int // index of the pivot or first retriable step
	store    Store
	cfg      Config // with every default applied
	clk      clock.Clock
	log      *slog.Logger
	obs      bulwark.Observer

	// drain is cancelled by Close: no saga starts another invocation,
	// waits end, Run and Recover stop claiming.
	drain     context.Context
	stopDrain context.CancelFunc
	// kill is cancelled, with cause bulwark.ErrClosed, when a Close's ctx
	// ends before the sagas in flight stopped: their invocations are cut
	// short.
	kill     context.Context
	stopKill context.CancelCauseFunc

	mu      sync.Mutex
	closed  bool
	running bool                       // a Run has not returned
	active  map[*execution[T]]struct{} // sagas being driven
	busy    int                        // active sagas, Run and the heartbeat
	idle    chan struct{}              // closed once closed and busy == 0
	beating bool                       // the heartbeat runs
	wake    chan struct{}              // tells the heartbeat to look whether it is still needed
}

// New validates def and cfg and returns an Orchestrator that drives sagas of
// def in store. It starts nothing: sagas are driven by the goroutines that
// Execute, Resume, Recover and Run start, and the heartbeat, a goroutine
// renewing the leases of sagas with long steps, starts with the first saga
// driven and ends at its first renewal time when none is (at most
// LeaseDuration/3 after the last one ended), or at Close.
func New[T any](def Definition[T], store Store, cfg Config) (*Orchestrator[T], error) {
	noReturn, err := def.validate()
	if err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("saga: New: store must not be nil")
	}
	if cfg, err = cfg.resolve(); err != nil {
		return nil, err
	}
	cfg.Name = cmp.Or(cfg.Name, def.Name)
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
		clk:      cfg.Clock,
		log:      cfg.Logger,
		obs:      cfg.Observer,
		active:   make(map[*execution[T]]struct{}),
		idle:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
	}
	if o.codec == nil {
		o.codec = JSON[T]{}
	}
	o.drain, o.stopDrain = context.WithCancel(context.Background())
	o.kill, o.stopKill = context.WithCancelCause(context.Background())
	return o, nil
}

// check panics on an Orchestrator not made by New.
func (o *Orchestrator[T]) check() {
	if o == nil || o.store == nil {
		panic("saga: Orchestrator used without New")
	}
}

// InstanceID returns the ID this orchestrator holds leases under.
func (o *Orchestrator[T]) InstanceID() string {
	o.check()
	return o.cfg.InstanceID
}

// Execute starts a saga with the given ID (unique in the store; an error
// matching ErrExists if not) and data, and drives it to its end on a
// goroutine of its own. It needs no Run: Run only takes over sagas whose
// instance went away.
//
// It returns nil when the saga completed, and an *Error matching
// ErrCompensated (with the failing step's error) when it was compensated or
// ErrNeedsAttention when a compensation failed past its limit. An error
// matching ErrStopped means the orchestrator stopped driving the saga (Close,
// a store error) and left it for Run or Recover to resume; one matching
// ErrLeaseLost that another instance took it over. After Close, Execute
// starts nothing and returns an error matching bulwark.ErrClosed.
//
// Cancelling ctx before the saga reaches its point of no return (the pivot,
// or the first retriable step) cancels the running step and compensates the
// saga; after it, the saga goes on. Either way Execute returns ctx's error
// at once while the orchestrator finishes the saga in the background, in a
// context that keeps ctx's values but not its cancellation: compensations
// are never cut short by the caller going away. Close stops that work at
// its next transition, and Run or Recover resume it later.
func (o *Orchestrator[T]) Execute(ctx context.Context, id string, data T) error {
	o.check()
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
		return fmt.Errorf("saga %s: not started: %w", id, bulwark.ErrClosed)
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
		err := e.drive(ctx, context.WithoutCancel(ctx))
		o.end(e) // before the outcome is known: nothing of e's runs after Execute returns
		done <- err
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

// begin registers e as driven by this orchestrator, and starts the
// heartbeat unless it runs; false once closed.
func (o *Orchestrator[T]) begin(e *execution[T]) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	o.busy++
	o.active[e] = struct{}{}
	if !o.beating {
		// The first timer is armed here, not by the goroutine, so that it
		// exists as soon as the saga does (tests wait for it).
		o.beating = true
		o.busy++
		go o.heartbeat(o.clk.NewTimer(o.cfg.LeaseDuration / 3))
	}
	return true
}

// end unregisters e. Once closed, the last saga to end tells the heartbeat
// to stop.
func (o *Orchestrator[T]) end(e *execution[T]) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.active, e)
	if o.closed && len(o.active) == 0 {
		o.wakeHeartbeat()
	}
	o.done()
}

// wakeHeartbeat makes the heartbeat look whether it is still needed.
func (o *Orchestrator[T]) wakeHeartbeat() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// done counts one piece of work (a saga, Run, the heartbeat) finished; the
// caller holds mu.
func (o *Orchestrator[T]) done() {
	o.busy--
	if o.closed && o.busy == 0 {
		close(o.idle)
	}
}

// Close stops the orchestrator and waits, within ctx, for the work in
// flight to stop. Run returns nil and Recover bulwark.ErrClosed; every saga
// being driven (by Execute, Resume, Run or Recover) stops at its next
// transition: the invocation in flight, if any, is let finish and its
// outcome is written, no further one starts, waits between tries end, and
// the saga's lease is released so that another instance takes it over at
// once (or Run or Recover after a restart). Close returns nil once all of
// that is done.
//
// When ctx ends first, the invocations still running have their context
// cancelled with cause bulwark.ErrClosed, and Close returns ctx's error,
// wrapped, without waiting for them: a cut-short invocation does not count
// as a failure (nothing is compensated for it), and its saga is left where
// its log says, for recovery. Nothing is ever half-written: every write is
// one conditional replacement of the saga's record.
//
// Close may be called before Run, more than once and from any goroutine.
// Afterwards Execute, Resume, Run and Recover return an error matching
// bulwark.ErrClosed; Get, List and Abandon still work.
func (o *Orchestrator[T]) Close(ctx context.Context) error {
	o.check()
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		o.stopDrain()
		if o.busy == 0 {
			close(o.idle)
		}
		if len(o.active) == 0 {
			o.wakeHeartbeat()
		}
	}
	o.mu.Unlock()
	select {
	case <-o.idle:
		return nil
	default:
	}
	select {
	case <-o.idle:
		return nil
	case <-ctx.Done():
		o.stopKill(bulwark.ErrClosed)
		return fmt.Errorf("saga: Close: sagas cut short, left for recovery: %w", ctx.Err())
	}
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

// stepName returns the name of step i, or "" when the definition has no
// such step.
func (o *Orchestrator[T]) stepName(i int) string {
	if i >= 0 && i < len(o.def.Steps) {
		return o.def.Steps[i].Name
	}
	return ""
}

func (o *Orchestrator[T]) snapshot(rec Record) (Snapshot[T], error) {
	s := Snapshot[T]{
		ID: rec.ID, Status: rec.Status, Error: rec.Error, Deadline: rec.Deadline,
		Owner: rec.Owner, LeaseUntil: rec.LeaseUntil, Version: rec.Version,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt,
	}
	if rec.Status != Completed && rec.Status != Compensated {
		s.Step = o.stepName(rec.Step)
	}
	if err := o.codec.Unmarshal(rec.Data, &s.Data); err != nil {
		return s, fmt.Errorf("saga %s: decoding data: %w", rec.ID, err)
	}
	return s, nil
}

// Get returns the saga id of this orchestrator's definition, or an error
// matching ErrNotFound.
func (o *Orchestrator[T]) Get(ctx context.Context, id string) (Snapshot[T], error) {
	o.check()
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
	o.check()
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
	o.check()
	if o.isClosed() {
		return fmt.Errorf("saga %s: not resumed: %w", id, bulwark.ErrClosed)
	}
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
		return fmt.Errorf("saga %s: not resumed: %w", id, bulwark.ErrClosed)
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
// the saga left behind. No orchestrator touches it again. It reports
// Finished, on the caller's goroutine with ctx.
func (o *Orchestrator[T]) Abandon(ctx context.Context, id, reason string) error {
	o.check()
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
	observe(o.obs, ctx, Finished{Orchestrator: o.cfg.Name, SagaID: id, Status: Abandoned, Err: errors.New(rec.Error)})
	return nil
}

// stuck returns the saga id if it is of this definition and needs attention.
func (o *Orchestrator[T]) stuck(ctx context.Context, id string) (Record, error) {
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
