package cqrs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/internal/lifecycle"
)

// Action is what a projector does after a failed try of an event.
type Action int

const (
	// RetryEvent tries the event again, alone, after a backoff.
	RetryEvent Action = iota
	// ParkProjection stops the projection at the event until an operator
	// resumes it (Projector.Resume) or skips the event (Projector.Skip).
	ParkProjection
	// SkipEvent moves the checkpoint past the event without its effect
	// (Projection.SkipFailed).
	SkipEvent
)

func (a Action) String() string {
	switch a {
	case RetryEvent:
		return "retry"
	case ParkProjection:
		return "park"
	case SkipEvent:
		return "skip"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Projector feeds projections from the global log of an event store: for
// each projection, it takes the projection's lease in the checkpoint store,
// reads the log from the projection's checkpoint (catching up, then
// following new events), and applies each batch of events with the new
// checkpoint in one transaction. Several processes may run a Projector on
// the same stores: each projection runs in one of them at a time, and
// another takes it over when that one dies (see Config.LeaseDuration).
//
// A failing event stops its projection only; the others go on. WaitFor lets
// a query wait for its own writes; Status, Resume, Skip and Rebuild are for
// operators, from any of the processes.
//
// A Projector is a bulwark.Service: New starts nothing; Run runs the
// projections until its ctx ends (returning ctx's error, wrapped) or Close
// (returning nil), giving their leases up on the way out; a second
// concurrent Run returns bulwark.ErrRunning, and Run after Close
// bulwark.ErrClosed. Close lets the batch in flight commit, or, when
// Close's ctx ends first, cancels it so that it rolls back: a batch is
// never half applied.
type Projector[Tx any] struct {
	events      eventsource.Store
	checkpoints Store[Tx]
	cfg         Config
	clock       clock.Clock
	log         *slog.Logger
	renewEvery  time.Duration
	runners     []*runner[Tx]
	byName      map[string]*runner[Tx]
	lc          *lifecycle.State

	// Waiters of WaitFor learn of local progress through changed, which
	// is closed and replaced whenever a projection run here moves.
	waiters atomic.Int64
	mu      sync.Mutex
	changed chan struct{}

	// list coalesces the checkpoint reads of concurrent waiters.
	list checkpointList
}

// New returns a Projector of projections, reading the global log of events
// and keeping the projections' checkpoints and leases in checkpoints (for
// read models updated exactly once, a transactional store on the read
// models' database). With an eventsource.Listener (all of bulwark's event
// stores) new events are projected as soon as they are announced; with an
// eventsource.HeadReader (all of bulwark's) Status reports each
// projection's lag. It returns an error naming a nil or empty parameter, an
// invalid projection or the first invalid setting.
func New[Tx any](events eventsource.Store, checkpoints Store[Tx], projections []Projection[Tx], cfg Config) (*Projector[Tx], error) {
	switch {
	case events == nil:
		return nil, errors.New("cqrs: New needs an event store (events is nil)")
	case checkpoints == nil:
		return nil, errors.New("cqrs: New needs a checkpoint store (checkpoints is nil)")
	}
	if err := checkProjections(projections); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.InstanceID == "" {
		cfg.InstanceID = rand.Text()
	}
	p := &Projector[Tx]{
		events:      events,
		checkpoints: checkpoints,
		cfg:         cfg,
		clock:       cfg.Clock,
		log:         cfg.Logger,
		renewEvery:  max(cfg.LeaseDuration/3, 1),
		byName:      make(map[string]*runner[Tx], len(projections)),
		lc:          lifecycle.New(),
		changed:     make(chan struct{}),
		list:        checkpointList{sem: make(chan struct{}, 1)},
	}
	for _, proj := range projections {
		r := &runner[Tx]{p: p, proj: proj, wake: make(chan struct{}, 1)}
		if len(proj.Types) > 0 {
			r.types = make(map[string]struct{}, len(proj.Types))
			for _, t := range proj.Types {
				r.types[t] = struct{}{}
			}
		}
		p.runners = append(p.runners, r)
		p.byName[proj.Name] = r
	}
	return p, nil
}

func (p *Projector[Tx]) check() {
	if p.lc == nil {
		panic("cqrs: Projector used without New")
	}
}

// InstanceID returns the ID this projector holds leases under.
func (p *Projector[Tx]) InstanceID() string {
	p.check()
	return p.cfg.InstanceID
}

// Run runs the projections until ctx ends or Close, then gives up their
// leases (so that another projector takes them over at once). It returns
// ctx's error, wrapped, or nil after Close. Failures of the stores or of
// handlers do not end it: they are retried, logged and reported to the
// Observer.
func (p *Projector[Tx]) Run(ctx context.Context) error {
	p.check()
	work, err := p.lc.Begin(ctx)
	if err != nil {
		return err
	}
	defer p.lc.End()
	var wg sync.WaitGroup
	for _, r := range p.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(work)
		}()
	}
	wg.Wait()
	if p.lc.Closed() {
		return nil
	}
	return fmt.Errorf("cqrs: projector stopped: %w", ctx.Err())
}

// Close stops Run: each projection finishes the batch it is applying
// (committed, with its checkpoint), abandons a retry wait (the event is
// tried again after a restart), and gives its lease up. Close waits for
// that within ctx; when ctx ends first it cancels the batches in flight
// (rolled back with their transactions) and returns ctx's error, wrapped.
// It returns nil once Run has returned. It may be called before Run, more
// than once, and from any goroutine.
func (p *Projector[Tx]) Close(ctx context.Context) error {
	p.check()
	return p.lc.Close(ctx, "cqrs: projector")
}

// stopping is closed by Close.
func (p *Projector[Tx]) stopping() <-chan struct{} { return p.lc.Stop }

// observe reports e to the Observer, if any.
func (p *Projector[Tx]) observe(ctx context.Context, e bulwark.Event) {
	if p.cfg.Observer != nil {
		p.cfg.Observer.Observe(ctx, e)
	}
}

// notify wakes the waiters of WaitFor after a projection run here moved.
func (p *Projector[Tx]) notify() {
	if p.waiters.Load() == 0 {
		return
	}
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *Projector[Tx]) changes() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// backoff is the wait after the n-th failure in a row (from 1), the wait
// after the previous one being prev.
func (p *Projector[Tx]) backoff(n int, prev time.Duration) time.Duration {
	return p.cfg.Backoff.Wait(n, prev, p.cfg.MaxDelay)
}

func (p *Projector[Tx]) runner(name string) (*runner[Tx], error) {
	p.check()
	r, ok := p.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownProjection, name)
	}
	return r, nil
}

// greatestLive returns the checkpoint of the greatest live version of
// projection name in cps, and false if it has none.
func greatestLive(cps []Checkpoint, name string) (Checkpoint, bool) {
	var best Checkpoint
	found := false
	for _, cp := range cps {
		if cp.Name == name && cp.Live && (!found || cp.Version > best.Version) {
			best, found = cp, true
		}
	}
	return best, found
}
