package saga_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/saga"
)

// How a step's action or compensation behaves in a scenario.
type behaviour int

const (
	succeeds        behaviour = iota
	flaky                     // fails its first one or two invocations; the step's policy absorbs that
	failsForGood              // fails every invocation, before taking effect
	failsAfterDoing           // takes effect, then fails every invocation (an ambiguous failure)
	failsUntilFixed           // a compensation that fails until an operator fixes its cause
)

type stepPlan struct {
	name    string
	kind    saga.Kind
	action  behaviour
	undo    behaviour
	hasUndo bool
	flakes  int
}

type scenario struct {
	steps    []stepPlan
	noReturn int
	crashes  []int // write budgets of the instances that crash, in order
}

func randomScenario(rng *rand.Rand) scenario {
	var sc scenario
	nComp, pivot, nRetr := rng.IntN(5), rng.IntN(2) == 1, rng.IntN(3)
	if nComp == 0 && !pivot && nRetr == 0 {
		nComp = 1
	}
	pick := func(opts ...behaviour) behaviour { return opts[rng.IntN(len(opts))] }
	add := func(kind saga.Kind, p stepPlan) {
		p.name, p.kind, p.flakes = fmt.Sprintf("s%d", len(sc.steps)), kind, 1+rng.IntN(2)
		sc.steps = append(sc.steps, p)
	}
	for range nComp {
		hasUndo := rng.IntN(5) > 0
		undo := pick(succeeds, succeeds, flaky, failsUntilFixed)
		// A step whose action can take effect and fail needs its undo.
		action := pick(succeeds, succeeds, succeeds, flaky, failsForGood)
		if hasUndo && rng.IntN(6) == 0 {
			action = failsAfterDoing
		}
		add(saga.Compensatable, stepPlan{action: action, undo: undo, hasUndo: hasUndo})
	}
	sc.noReturn = len(sc.steps)
	if pivot {
		add(saga.Pivot, stepPlan{action: pick(succeeds, succeeds, flaky, failsForGood)})
	}
	for range nRetr {
		add(saga.Retriable, stepPlan{action: pick(succeeds, flaky)})
	}
	for range rng.IntN(4) {
		sc.crashes = append(sc.crashes, rng.IntN(2*len(sc.steps)+3))
	}
	return sc
}

// world is the services the steps call: each deduplicates by idempotency
// key, and refuses an action whose compensation already ran (dtm's
// barrier against a late action).
type world struct {
	effects     []string // keys in the order they took effect
	invocations map[string]int
	lateActions int
	fixed       bool
}

func (w *world) effect(key string) {
	if !slices.Contains(w.effects, key) {
		w.effects = append(w.effects, key)
	}
}

func (w *world) definition(sc scenario) saga.Definition[Order] {
	d := saga.Definition[Order]{Name: "order"}
	for _, p := range sc.steps {
		behave := func(b behaviour, o *Order, inv saga.Invocation, trail string) error {
			w.invocations[inv.Key()]++
			if !inv.Compensation && slices.Contains(w.effects, inv.Key()+"/compensation") {
				w.lateActions++
				return errors.New("refused: already compensated")
			}
			switch b {
			case flaky:
				if w.invocations[inv.Key()] <= p.flakes {
					return errors.New("flake")
				}
			case failsForGood:
				return errors.New("refused")
			case failsAfterDoing:
				w.effect(inv.Key())
				o.Trail = append(o.Trail, trail)
				return errors.New("timed out after doing it")
			case failsUntilFixed:
				if !w.fixed {
					return errors.New("broken")
				}
			}
			w.effect(inv.Key())
			o.Trail = append(o.Trail, trail)
			return nil
		}
		s := saga.Step[Order]{
			Name: p.name, Kind: p.kind, Policy: retryPolicy(3),
			Action: func(_ context.Context, o *Order, inv saga.Invocation) error {
				return behave(p.action, o, inv, p.name)
			},
		}
		if p.hasUndo {
			s.Compensate = func(_ context.Context, o *Order, inv saga.Invocation) error {
				return behave(p.undo, o, inv, "undo "+p.name)
			}
		}
		d.Steps = append(d.Steps, s)
	}
	return d
}

// crashStore dies after a budget of writes: from then on every call fails,
// as if the process had been killed.
type crashStore struct {
	saga.Store
	budget atomic.Int64 // negative: unlimited
}

var errCrashed = errors.New("crashed")

func (c *crashStore) spend() error {
	if c.budget.Load() < 0 {
		return nil
	}
	if c.budget.Add(-1) < 0 {
		c.budget.Store(0) // stays dead
		return errCrashed
	}
	return nil
}

func (c *crashStore) dead() bool { return c.budget.Load() == 0 }

func (c *crashStore) Create(ctx context.Context, rec saga.Record) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.Store.Create(ctx, rec)
}

func (c *crashStore) Update(ctx context.Context, rec saga.Record) error {
	if err := c.spend(); err != nil {
		return err
	}
	return c.Store.Update(ctx, rec)
}

func (c *crashStore) Claim(ctx context.Context, name, owner string, now, until time.Time, limit int) ([]saga.Record, error) {
	if c.dead() {
		return nil, errCrashed
	}
	return c.Store.Claim(ctx, name, owner, now, until, limit)
}

func (c *crashStore) Renew(ctx context.Context, owner string, ids []string, until time.Time) error {
	if c.dead() {
		return errCrashed
	}
	return c.Store.Renew(ctx, owner, ids, until)
}

// TestCrashesAtAnyTransitionEndCompletedOrCompensated runs random sagas
// (random kinds, failures, flaky steps, ambiguous failures, failing
// compensations) and crashes the orchestrator after random numbers of
// writes, each crash followed by a new instance recovering. Whatever
// happens, the saga ends as a model of the scenario says, every effect
// happened once, and compensations ran in reverse order.
func TestCrashesAtAnyTransitionEndCompletedOrCompensated(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("BULWARK_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	iterations := 2000
	if testing.Short() {
		iterations = 200
	}
	var outcomes [4]int
	for i := range iterations {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		sc := randomScenario(rng)
		if i < 40 { // a sweep of single crashes over every transition
			sc.crashes = []int{i % (len(sc.steps) + 4)}
		}
		status, err := playScenario(sc)
		if err != nil {
			t.Fatalf("seed %d (BULWARK_SEED=%d), iteration %d: %v\nscenario: %+v", seed, seed, i, err, sc)
		}
		outcomes[status]++
	}
	t.Logf("seed %d: %d scenarios: %d never started (crash before the first write), %d completed, %d compensated, %d needed attention and were resumed",
		seed, iterations, outcomes[0], outcomes[1], outcomes[2], outcomes[3])
}

// playScenario runs sc and checks the end state. It returns 0 if the saga
// was never created, 1 completed, 2 compensated, 3 compensated after
// needing attention.
func playScenario(sc scenario) (int, error) {
	ctx := context.Background()
	w := &world{invocations: map[string]int{}}
	mem := saga.NewMemoryStore()
	fc := clocktest.New(epoch)
	d := w.definition(sc)
	neededAttention := false
	for round := 0; round < 50; round++ {
		store := &crashStore{Store: mem}
		store.budget.Store(-1)
		if round < len(sc.crashes) {
			store.budget.Store(int64(sc.crashes[round]))
		}
		cfg := saga.DefaultConfig()
		cfg.Clock, cfg.InstanceID = fc, fmt.Sprintf("instance-%d", round)
		cfg.LeaseDuration, cfg.CompensationAttempts = time.Hour, 1
		cfg.Logger = slog.New(slog.DiscardHandler)
		o, err := saga.New(d, store, cfg)
		if err != nil {
			return 0, err
		}
		if round == 0 {
			err = o.Execute(ctx, "s", Order{ID: "s"})
		} else {
			fc.Advance(2 * time.Hour) // the crashed instance's lease ends
			var rec saga.Record
			rec, err = mem.Get(ctx, "s")
			if errors.Is(err, saga.ErrNotFound) {
				o.Close(ctx)
				break
			}
			if rec.Status == saga.NeedsAttention {
				w.fixed = true // the operator fixes the cause
				err = o.Resume(ctx, "s")
			} else {
				_, err = o.Recover(ctx)
			}
		}
		o.Close(ctx)
		if err != nil && !errors.Is(err, errCrashed) && !errors.Is(err, saga.ErrCompensated) && !errors.Is(err, saga.ErrNeedsAttention) {
			return 0, fmt.Errorf("round %d: unexpected error %v", round, err)
		}
		rec, gerr := mem.Get(ctx, "s")
		if errors.Is(gerr, saga.ErrNotFound) {
			if round == 0 && len(sc.crashes) > 0 && sc.crashes[0] == 0 {
				break
			}
			return 0, fmt.Errorf("round %d: saga missing", round)
		}
		if rec.Status == saga.NeedsAttention {
			neededAttention = true
		}
		if rec.Status == saga.Completed || rec.Status == saga.Compensated {
			break
		}
	}
	return check(sc, w, mem, neededAttention)
}

func check(sc scenario, w *world, mem *saga.MemoryStore, neededAttention bool) (int, error) {
	rec, err := mem.Get(context.Background(), "s")
	if errors.Is(err, saga.ErrNotFound) {
		if len(w.effects) > 0 {
			return 0, fmt.Errorf("saga never created, yet effects %v", w.effects)
		}
		return 0, nil
	}
	if w.lateActions > 0 {
		return 0, fmt.Errorf("%d actions came after their compensation", w.lateActions)
	}
	// The model: the first step that fails for good decides.
	fail := -1
	for i, p := range sc.steps {
		if p.action == failsForGood || p.action == failsAfterDoing {
			fail = i
			break
		}
	}
	var wantEffects, wantTrail []string
	key := func(p stepPlan) string { return "s/" + p.name }
	if fail < 0 {
		for _, p := range sc.steps {
			wantEffects = append(wantEffects, key(p))
			wantTrail = append(wantTrail, p.name)
		}
	} else {
		for _, p := range sc.steps[:fail] {
			wantEffects = append(wantEffects, key(p))
			wantTrail = append(wantTrail, p.name)
		}
		if sc.steps[fail].action == failsAfterDoing {
			wantEffects = append(wantEffects, key(sc.steps[fail]))
		}
		last := fail // a failed compensatable step is compensated too
		if sc.steps[fail].kind == saga.Pivot {
			last = fail - 1
		}
		stuck := false
		for j := last; j >= 0; j-- {
			if p := sc.steps[j]; p.hasUndo {
				wantEffects = append(wantEffects, key(p)+"/compensation")
				wantTrail = append(wantTrail, "undo "+p.name)
				stuck = stuck || p.undo == failsUntilFixed
			}
		}
		if stuck != neededAttention {
			return 0, fmt.Errorf("needed attention: %v, want %v", neededAttention, stuck)
		}
	}
	wantStatus := saga.Completed
	if fail >= 0 {
		wantStatus = saga.Compensated
	}
	var data Order
	if err := (saga.JSON[Order]{}).Unmarshal(rec.Data, &data); err != nil {
		return 0, err
	}
	switch {
	case rec.Status != wantStatus:
		return 0, fmt.Errorf("status %s, want %s (error %q)", rec.Status, wantStatus, rec.Error)
	case !slices.Equal(w.effects, wantEffects):
		return 0, fmt.Errorf("effects\n%v, want\n%v", w.effects, wantEffects)
	case !slices.Equal(data.Trail, wantTrail):
		return 0, fmt.Errorf("data trail\n%v, want\n%v", data.Trail, wantTrail)
	case fail >= 0 && !strings.Contains(rec.Error, sc.steps[fail].name):
		return 0, fmt.Errorf("error %q does not name the failed step %s", rec.Error, sc.steps[fail].name)
	}
	switch {
	case fail < 0:
		return 1, nil
	case neededAttention:
		return 3, nil
	}
	return 2, nil
}
