package otelbulwark_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/fallback"
	"github.com/bulwark-go/bulwark/hedge"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/timeout"
	"go.opentelemetry.io/otel/attribute"
)

func TestBulkheadRejectionsAndGauges(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := bulkhead.Config{Name: "db", Observer: r.tel, MaxConcurrent: 2, MaxWaiting: 1, MaxWait: time.Second, Clock: clk}
	b, err := bulkhead.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.tel.ObserveBulkhead("db", b)
	if err != nil {
		t.Fatal(err)
	}
	db := attrName.String("db")
	got := r.collect(t)
	wantUpDown(t, got, "bulwark.bulkhead.active_calls", "{call}", p(int64(0), db))
	wantUpDown(t, got, "bulwark.bulkhead.queued_calls", "{call}", p(int64(0), db))
	wantUpDown(t, got, "bulwark.bulkhead.limit", "{call}", p(int64(2), db))

	p1, _ := b.TryAcquire()
	p2, _ := b.TryAcquire()
	waited := make(chan error)
	go func() {
		_, err := b.Acquire(context.Background())
		waited <- err
	}()
	clk.BlockUntil(1) // the waiter's MaxWait timer
	// The line of one is full: a second waiter is rejected at once.
	if _, err := b.Acquire(context.Background()); !errors.Is(err, bulkhead.ErrFull) {
		t.Fatalf("Acquire with the line full: %v", err)
	}
	got = r.collect(t)
	wantUpDown(t, got, "bulwark.bulkhead.active_calls", "{call}", p(int64(2), db))
	wantUpDown(t, got, "bulwark.bulkhead.queued_calls", "{call}", p(int64(1), db))
	wantCounter(t, got, "bulwark.bulkhead.rejected_calls", "{call}", p(int64(1), db))

	// The waiter's wait runs out.
	clk.Advance(time.Second)
	if err := <-waited; !errors.Is(err, bulkhead.ErrFull) {
		t.Fatalf("waiter: %v", err)
	}
	p1.Release(nil)
	p2.Release(nil)
	got = r.collect(t)
	wantUpDown(t, got, "bulwark.bulkhead.active_calls", "{call}", p(int64(0), db))
	wantCounter(t, got, "bulwark.bulkhead.rejected_calls", "{call}", p(int64(2), db))
	absent(t, got, "bulwark.bulkhead.limit_changes")
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	absent(t, r.collect(t), "bulwark.bulkhead.active_calls", "bulwark.bulkhead.limit")
}

func TestAdaptiveBulkheadLimitChanges(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := bulkhead.Config{Name: "db", Observer: r.tel, MaxConcurrent: 8, Clock: clk, Adaptive: bulkhead.AIMD{
		InitialLimit: 4, MinLimit: 1, LatencyThreshold: time.Second, BackoffRatio: 0.5}}
	b, err := bulkhead.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A slow call halves the limit.
	_ = b.Do(context.Background(), func(context.Context) error { clk.Advance(2 * time.Second); return nil })
	if b.Limit() != 2 {
		t.Fatalf("limit %d after a slow call, want 2", b.Limit())
	}
	// Fast calls with the bulkhead well used raise it again.
	for i := 0; b.Limit() == 2; i++ {
		if i == 20 {
			t.Fatal("the limit never grew")
		}
		p1, _ := b.TryAcquire()
		p2, _ := b.TryAcquire()
		p1.Release(nil)
		p2.Release(nil)
	}
	db := attrName.String("db")
	dir := attribute.Key("bulwark.bulkhead.direction")
	wantCounter(t, r.collect(t), "bulwark.bulkhead.limit_changes", "{change}",
		p(int64(1), db, dir.String("decrease")), p(int64(1), db, dir.String("increase")))
}

func TestKeyedBulkheadAndRateLimitRecordKeysOnlyWhenAsked(t *testing.T) {
	for _, keys := range []bool{false, true} {
		r := newRig(t, keys)
		bcfg := bulkhead.DefaultKeyedConfig()
		bcfg.MaxConcurrent, bcfg.Name, bcfg.Observer = 1, "tenants", r.tel
		kb, err := bulkhead.NewKeyed(bcfg)
		if err != nil {
			t.Fatal(err)
		}
		lcfg := ratelimit.KeyedConfig{Config: ratelimit.Config{Name: "clients", Observer: r.tel,
			Limit: 1, Period: time.Second, Clock: clocktest.New(epoch)}}
		kl, err := ratelimit.NewKeyed(lcfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_ = kb.Do(ctx, "acme", func(ctx context.Context) error {
			return kb.Do(ctx, "acme", ok) // rejected: acme's one permit is taken
		})
		_ = kl.Allow("alice")
		_ = kl.Allow("alice") // rejected
		_ = kl.Allow("bob")

		tenants := []attribute.KeyValue{attrName.String("tenants")}
		clients := []attribute.KeyValue{attrName.String("clients")}
		if keys {
			tenants = append(tenants, attrKey.String("acme"))
			clients = append(clients, attrKey.String("alice"))
		}
		got := r.collect(t)
		wantCounter(t, got, "bulwark.bulkhead.rejected_calls", "{call}", p(int64(1), tenants...))
		wantCounter(t, got, "bulwark.ratelimit.rejected_calls", "{call}", p(int64(1), clients...))
	}
}

func TestRateLimitRejections(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := ratelimit.Config{Name: "api", Observer: r.tel, Limit: 2, Period: time.Second, Clock: clk}
	l, err := ratelimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 5 {
		_ = l.Do(ctx, ok)
	}
	wantCounter(t, r.collect(t), "bulwark.ratelimit.rejected_calls", "{call}", p(int64(3), attrName.String("api")))
}

func TestTimeoutCountsTimedOutCalls(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := timeout.Config{Name: "search", Observer: r.tel, Timeout: time.Second, Clock: clk}
	to, err := timeout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = to.Do(ctx, ok)
	err = to.Do(ctx, func(ctx context.Context) error {
		clk.Advance(2 * time.Second)
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, timeout.ErrTimeout) {
		t.Fatalf("Do: %v", err)
	}
	wantCounter(t, r.collect(t), "bulwark.timeout.timed_out_calls", "{call}", p(int64(1), attrName.String("search")))
}

func TestHedgeCountsHedgesAndReportsTheDelay(t *testing.T) {
	r := newRig(t, false)
	clk := clocktest.New(epoch)
	cfg := hedge.Config{Name: "search", Observer: r.tel, Delay: 250 * time.Millisecond, MaxHedges: 2, AllIdempotent: true, Clock: clk}
	h, err := hedge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.tel.ObserveHedger("search", h)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()

	third := make(chan struct{})
	done := make(chan error)
	var attempts int32
	go func() {
		done <- h.Do(context.Background(), func(ctx context.Context) error {
			if n := atomicAdd(&attempts); n == 3 {
				close(third)
				return nil
			}
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	clk.BlockUntil(1)
	clk.Advance(250 * time.Millisecond)
	clk.BlockUntil(1)
	clk.Advance(250 * time.Millisecond)
	<-third
	if err := <-done; err != nil {
		t.Fatalf("Do: %v", err)
	}
	search := attrName.String("search")
	hedgeAttempt := attribute.Key("bulwark.hedge.attempt")
	got := r.collect(t)
	wantCounter(t, got, "bulwark.hedge.hedged_attempts", "{attempt}",
		p(int64(1), search, hedgeAttempt.Int(2)), p(int64(1), search, hedgeAttempt.Int(3)))
	wantGauge(t, got, "bulwark.hedge.delay", "s", p(0.25, search))
}

func TestFallbackCountsActivations(t *testing.T) {
	r := newRig(t, false)
	cfg := fallback.Config{Name: "prices", Observer: r.tel}
	fb, err := fallback.New(func(context.Context, error) (int, error) { return 0, nil }, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = fb.Do(ctx, ok)
	_ = fb.Do(ctx, fail)
	_ = fb.Do(ctx, func(context.Context) error { return &statusError{500} })
	_ = fb.Do(ctx, fail)
	prices := attrName.String("prices")
	wantCounter(t, r.collect(t), "bulwark.fallback.activations", "{call}",
		p(int64(2), prices, errorType.String("*errors.errorString")),
		p(int64(1), prices, errorType.String("*otelbulwark_test.statusError")))
}

func TestChaosCountsFaults(t *testing.T) {
	r := newRig(t, false)
	cfg := chaos.Config{Name: "inventory", Observer: r.tel, Faults: chaos.Faults{ErrorRate: 1}, Seed: 1}
	inj, err := chaos.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = inj.Do(ctx, ok)
	_ = inj.Do(ctx, ok)
	if err := inj.SetFaults(chaos.Faults{PanicRate: 1}); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_ = inj.Do(ctx, ok)
	}()
	inventory := attrName.String("inventory")
	fault := attribute.Key("bulwark.chaos.fault")
	wantCounter(t, r.collect(t), "bulwark.chaos.faults", "{fault}",
		p(int64(2), inventory, fault.String("error")), p(int64(1), inventory, fault.String("panic")))
}
