package sagatest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/saga"
)

// Order is the saga data of the suite's orchestration tests.
type Order struct {
	ID    string   `json:"id"`
	Trail []string `json:"trail"`
}

// ledger records the effects of steps by idempotency key, as a service that
// deduplicates would, and counts invocations.
type ledger struct {
	mu          sync.Mutex
	effects     map[string]int // key -> times it took effect (must stay <= 1)
	invocations map[string]int
	order       map[string][]string // saga -> keys in the order they took effect
}

func newLedger() *ledger {
	return &ledger{effects: map[string]int{}, invocations: map[string]int{}, order: map[string][]string{}}
}

func (l *ledger) do(inv saga.Invocation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.invocations[inv.Key()]++
	if l.effects[inv.Key()] == 0 {
		l.order[inv.SagaID] = append(l.order[inv.SagaID], inv.Key())
	}
	l.effects[inv.Key()] = 1
}

func (l *ledger) trail(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order[id]...)
}

type plan struct {
	failAction     map[string]bool // step -> its action fails
	failCompensate map[string]bool
	block          map[string]chan struct{} // step -> its action waits for this
}

func definition(l *ledger, p plan) saga.Definition[Order] {
	step := func(name string, kind saga.Kind) saga.Step[Order] {
		s := saga.Step[Order]{
			Name: name, Kind: kind,
			Action: func(ctx context.Context, o *Order, inv saga.Invocation) error {
				if ch := p.block[name]; ch != nil {
					select {
					case <-ch:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				if p.failAction[name] {
					return errors.New(name + " refused")
				}
				l.do(inv)
				o.Trail = append(o.Trail, name)
				return nil
			},
		}
		if kind == saga.Compensatable {
			s.Compensate = func(ctx context.Context, o *Order, inv saga.Invocation) error {
				if p.failCompensate[name] {
					return errors.New(name + " cannot be undone")
				}
				l.do(inv)
				o.Trail = append(o.Trail, "undo "+name)
				return nil
			}
		}
		return s
	}
	return saga.Definition[Order]{
		Name: "order",
		Steps: []saga.Step[Order]{
			step("reserve", saga.Compensatable),
			step("charge", saga.Compensatable),
			step("confirm", saga.Pivot),
			step("ship", saga.Retriable),
		},
	}
}

// onStepStarted returns an Observer calling f with the invocation of every
// StepStarted event.
func onStepStarted(f func(saga.Invocation)) bulwark.Observer {
	return bulwark.ObserverFunc(func(_ context.Context, ev bulwark.Event) {
		if ev, ok := ev.(saga.StepStarted); ok {
			f(ev.Invocation)
		}
	})
}

func config(fc *clocktest.Fake, id string) saga.Config {
	cfg := saga.DefaultConfig()
	cfg.Clock = fc
	cfg.InstanceID = id
	cfg.LeaseDuration = time.Hour // the heartbeat's timer fires only every 20 minutes
	cfg.PollInterval = time.Minute
	cfg.CompensationAttempts = 1
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

// countingStore counts the calls the orchestrator makes.
type countingStore struct {
	saga.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
}

func (c *countingStore) total(ops ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, op := range ops {
		n += c.calls[op]
	}
	return n
}

func (c *countingStore) writes() int { return c.total("Create", "Update", "Claim", "Renew") }
func (c *countingStore) reads() int  { return c.total("Get", "List") }

func (c *countingStore) Create(ctx context.Context, rec saga.Record) error {
	c.count("Create")
	return c.Store.Create(ctx, rec)
}

func (c *countingStore) Update(ctx context.Context, rec saga.Record) error {
	c.count("Update")
	return c.Store.Update(ctx, rec)
}

func (c *countingStore) Get(ctx context.Context, id string) (saga.Record, error) {
	c.count("Get")
	return c.Store.Get(ctx, id)
}

func (c *countingStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	c.count("Claim")
	return c.Store.Claim(ctx, name, owner, now, until, limit)
}

func (c *countingStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	c.count("Renew")
	return c.Store.Renew(ctx, owner, ids, until)
}

func (c *countingStore) List(ctx context.Context, q saga.ListQuery) ([]saga.Record, error) {
	c.count("List")
	return c.Store.List(ctx, q)
}

// faultyStore simulates an instance cut off from the store: dead fails
// every call, dropRenew loses lease renewals.
type faultyStore struct {
	saga.Store
	dead, dropRenew atomic.Bool
}

var errUnreachable = errors.New("sagatest: store unreachable")

func (f *faultyStore) Create(ctx context.Context, rec saga.Record) error {
	if f.dead.Load() {
		return errUnreachable
	}
	return f.Store.Create(ctx, rec)
}

func (f *faultyStore) Update(ctx context.Context, rec saga.Record) error {
	if f.dead.Load() {
		return errUnreachable
	}
	return f.Store.Update(ctx, rec)
}

func (f *faultyStore) Get(ctx context.Context, id string) (saga.Record, error) {
	if f.dead.Load() {
		return saga.Record{}, errUnreachable
	}
	return f.Store.Get(ctx, id)
}

func (f *faultyStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	if f.dead.Load() {
		return nil, errUnreachable
	}
	return f.Store.Claim(ctx, name, owner, now, until, limit)
}

func (f *faultyStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	if f.dead.Load() {
		return errUnreachable
	}
	if f.dropRenew.Load() {
		return nil
	}
	return f.Store.Renew(ctx, owner, ids, until)
}

func (f *faultyStore) List(ctx context.Context, q saga.ListQuery) ([]saga.Record, error) {
	if f.dead.Load() {
		return nil, errUnreachable
	}
	return f.Store.List(ctx, q)
}
