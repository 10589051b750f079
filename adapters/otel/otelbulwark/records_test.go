package otelbulwark_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/bulwark-go/bulwark/saga"
	"go.opentelemetry.io/otel/attribute"
)

type order struct{ ID string }

// quiet discards what the patterns log.
var quiet = slog.New(slog.DiscardHandler)

func TestSagaStepsAndOutcomes(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	store := saga.NewMemoryStore()
	steps := []saga.Step[order]{
		{Name: "reserve",
			Action: func(context.Context, *order, saga.Invocation) error {
				clk.Advance(2 * time.Second)
				return nil
			},
			Compensate: func(context.Context, *order, saga.Invocation) error {
				clk.Advance(500 * time.Millisecond)
				return nil
			}},
		{Name: "charge", Kind: saga.Pivot,
			Action: func(_ context.Context, o *order, _ saga.Invocation) error {
				clk.Advance(time.Second)
				if o.ID == "declined" {
					return &statusError{402}
				}
				return nil
			}},
	}
	def := saga.Definition[order]{Name: "checkout", Steps: steps}
	// The orchestrator's Name defaults to the Definition's: "checkout".
	cfg := saga.Config{Observer: r.tel, Clock: clk, Logger: quiet}
	o, err := saga.New(def, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	ctx := context.Background()
	if err := o.Execute(ctx, "s1", order{ID: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Execute(ctx, "s2", order{ID: "declined"}); !errors.Is(err, saga.ErrCompensated) {
		t.Fatalf("Execute: %v", err)
	}

	checkout := attrName.String("checkout")
	step := attribute.Key("bulwark.saga.step")
	comp := attribute.Key("bulwark.saga.compensation")
	status := attribute.Key("bulwark.saga.status")
	declined := errorType.String("*otelbulwark_test.statusError")
	got := r.collect(t)
	wantHistogram(t, got, "bulwark.saga.step.duration", map[attribute.Set][]float64{
		set(checkout, step.String("reserve"), comp.Bool(false)):          {2, 2},
		set(checkout, step.String("charge"), comp.Bool(false)):           {1},
		set(checkout, step.String("charge"), comp.Bool(false), declined): {1},
		set(checkout, step.String("reserve"), comp.Bool(true)):           {0.5},
	})
	wantCounter(t, got, "bulwark.saga.compensations", "{saga}", p(int64(1), checkout, declined))
	wantCounter(t, got, "bulwark.saga.outcomes", "{saga}",
		p(int64(1), checkout, status.String("completed")), p(int64(1), checkout, status.String("compensated")))
}

func TestObserveSagasCountsThoseNeedingAttention(t *testing.T) {
	r := newRig(t, false)
	store := saga.NewMemoryStore()
	def := saga.Definition[order]{Name: "refund", Steps: []saga.Step[order]{
		{Name: "pay", Action: func(context.Context, *order, saga.Invocation) error { return nil },
			Compensate: func(context.Context, *order, saga.Invocation) error { return errDown }},
		{Name: "ship", Kind: saga.Pivot, Action: func(context.Context, *order, saga.Invocation) error { return errDown }},
	}}
	cfg := saga.Config{CompensationAttempts: 1, Backoff: retry.Constant{Delay: time.Millisecond}, Logger: quiet}
	o, err := saga.New(def, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	if _, err := r.tel.ObserveSagas("", store); err == nil {
		t.Error("ObserveSagas without a name: no error")
	}
	reg, err := r.tel.ObserveSagas("refund", store)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	wantGauge(t, r.collect(t), "bulwark.saga.needs_attention", "{saga}", p(int64(0), attrName.String("refund")))
	for _, id := range []string{"a", "b"} {
		if err := o.Execute(context.Background(), id, order{}); !errors.Is(err, saga.ErrNeedsAttention) {
			t.Fatalf("Execute %s: %v", id, err)
		}
	}
	wantGauge(t, r.collect(t), "bulwark.saga.needs_attention", "{saga}", p(int64(2), attrName.String("refund")))
}

func TestKeeperAndInbox(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := idempotency.Config{Name: "api", Observer: r.tel, Clock: clk}
	k, err := idempotency.New(idempotency.NewMemoryStore(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(key string) {
		_, _ = idempotency.Do(ctx, k, idempotency.Request{Key: key}, func(context.Context) (int, error) { return 1, nil })
	}
	run("a")
	run("a") // replayed
	run("a") // replayed
	// A holder that never finishes: after its lease, the key is taken over.
	if _, _, err := k.Start(ctx, idempotency.Request{Key: "b"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(idempotency.DefaultConfig().Lease + time.Second)
	run("b")

	inboxKeeper, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := idempotency.NewInbox(inboxKeeper, idempotency.InboxConfig{Consumer: "mailer", Name: "mailer", Observer: r.tel})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _ = in.Process(ctx, "m1", ok)
	}
	got := r.collect(t)
	wantCounter(t, got, "bulwark.idempotency.replays", "{request}", p(int64(2), attrName.String("api")))
	wantCounter(t, got, "bulwark.idempotency.takeovers", "{request}", p(int64(1), attrName.String("api")))
	wantCounter(t, got, "bulwark.idempotency.duplicates", "{message}", p(int64(2), attrName.String("mailer")))
}

type deposited struct{ Amount int }

// brokenSnapshots is a snapshot store that cannot load.
type brokenSnapshots struct{ *eventsource.MemoryStore }

func (brokenSnapshots) LoadSnapshot(context.Context, string) (eventsource.Snapshot, bool, error) {
	return eventsource.Snapshot{}, false, errDown
}

func TestRepositoryAndSubscription(t *testing.T) {
	r := newRig(t, false)
	reg := eventsource.NewRegistry(nil)
	if err := eventsource.Register[deposited](reg, "deposited", 1); err != nil {
		t.Fatal(err)
	}
	store := eventsource.NewMemoryStore()
	var userRetries, userSnapshotErrors int
	cfg := eventsource.RepositoryConfig[int]{Name: "accounts", Snapshots: brokenSnapshots{store}, Logger: quiet,
		Backoff: retry.Constant{},
		Observer: bulwark.Observers(r.tel, bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			switch e.(type) {
			case eventsource.Retried:
				userRetries++
			case eventsource.SnapshotFailed:
				userSnapshotErrors++
			}
		}))}
	evolve := func(balance int, e any) int { return balance + e.(deposited).Amount }
	repo, err := eventsource.NewRepository(store, reg, evolve, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tries := 0
	if _, err := repo.Handle(ctx, "1", func(int) ([]any, error) {
		if tries++; tries == 1 { // a concurrent writer gets there first
			if _, err := repo.Handle(ctx, "1", func(int) ([]any, error) { return []any{deposited{5}}, nil }); err != nil {
				return nil, err
			}
		}
		return []any{deposited{10}}, nil
	}); err != nil {
		t.Fatal(err)
	}

	caughtUp := make(chan int64, 4)
	scfg := eventsource.SubscriptionConfig{Name: "ledger",
		Observer: bulwark.Observers(r.tel, bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if c, ok := e.(eventsource.CaughtUp); ok {
				caughtUp <- c.Position
			}
		}))}
	sub, err := eventsource.NewSubscription(store, func(context.Context, eventsource.Event) error { return nil }, scfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- sub.Run(sctx) }()
	pos := <-caughtUp
	stop()
	<-done

	got := r.collect(t)
	wantCounter(t, got, "bulwark.eventsource.retries", "{retry}",
		p(int64(1), attrName.String("accounts"), errorType.String("*eventsource.VersionConflictError")))
	wantCounter(t, got, "bulwark.eventsource.snapshot_errors", "{error}",
		p(int64(userSnapshotErrors), attrName.String("accounts")))
	wantGauge(t, got, "bulwark.eventsource.subscription.position", "{event}", p(int64(2), attrName.String("ledger")))
	if pos != 2 || userRetries != 1 || userSnapshotErrors < 2 {
		t.Errorf("caught up at %d; the user's observer saw %d retries and %d snapshot errors, want 2, 1 and at least 2", pos, userRetries, userSnapshotErrors)
	}
}
