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

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/eventsource"
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

// EventFailure is a failed try to apply an event, as OnFailed reports it.
type EventFailure struct {
	// Event is the event that failed.
	Event eventsource.Event
	// Attempt counts the tries of the event so far, from 1.
	Attempt int
	// Err is the handler's error (a panic is turned into one).
	Err error
	// Next is what the projector does now.
	Next Action
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
type Projector[Tx any] struct {
	cfg        Config[Tx]
	clock      clock.Clock
	log        *slog.Logger
	renewEvery time.Duration
	runners    []*runner[Tx]
	byName     map[string]*runner[Tx]
	running    atomic.Bool

	// Waiters of WaitFor learn of local progress through changed, which
	// is closed and replaced whenever a projection run here moves.
	waiters atomic.Int64
	mu      sync.Mutex
	changed chan struct{}

	// list coalesces the checkpoint reads of concurrent waiters.
	list checkpointList
}

// New returns a Projector, or an error naming the first invalid setting.
func New[Tx any](cfg Config[Tx]) (*Projector[Tx], error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.InstanceID == "" {
		cfg.InstanceID = rand.Text()
	}
	p := &Projector[Tx]{
		cfg:        cfg,
		clock:      clock.OrSystem(cfg.Clock),
		log:        cfg.Logger,
		renewEvery: max(cfg.LeaseDuration/3, 1),
		byName:     make(map[string]*runner[Tx], len(cfg.Projections)),
		changed:    make(chan struct{}),
		list:       checkpointList{sem: make(chan struct{}, 1)},
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	for _, proj := range cfg.Projections {
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

// InstanceID returns the ID this projector holds leases under.
func (p *Projector[Tx]) InstanceID() string { return p.cfg.InstanceID }

// Run runs the projections until ctx is done, then gives up their leases
// (so that another projector takes them over at once) and returns
// ctx.Err(). Failures of the stores or of handlers do not end it: they are
// retried, logged and reported to the hooks. One Run at a time: a second
// concurrent call returns an error.
func (p *Projector[Tx]) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("cqrs: Projector.Run is already running")
	}
	defer p.running.Store(false)
	var wg sync.WaitGroup
	for _, r := range p.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(ctx)
		}()
	}
	wg.Wait()
	return ctx.Err()
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

// backoff is the wait after the n-th failure in a row (from 1).
func (p *Projector[Tx]) backoff(n int) time.Duration {
	d := p.cfg.RetryDelay
	for i := 1; i < n && d < p.cfg.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, p.cfg.MaxRetryDelay)
}

func (p *Projector[Tx]) runner(name string) (*runner[Tx], error) {
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
