package otelbulwark_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/otel/otelbulwark"
	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/attribute"
)

var destination = attribute.Key("messaging.destination.name")

func TestRelayCountsOutcomesAndReportsBacklog(t *testing.T) {
	clk := clocktest.New(epoch)
	store := outbox.NewMemoryStore()
	pub := outbox.PublisherFunc(func(_ context.Context, m outbox.Message) error {
		if m.Topic == "refunds" {
			return &statusError{503}
		}
		return nil
	})
	r := newRigConfig(t, otelbulwark.Config{Clock: clk})
	cfg := outbox.Config{Name: "orders", Observer: r.tel, Clock: clk, MaxAttempts: 2,
		Backoff: retry.Constant{Delay: time.Second}}
	relay, err := outbox.NewRelay(store, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.tel.ObserveRelay("orders", relay)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := func(topic, key string, age time.Duration) outbox.Message {
		m := outbox.NewMessage(topic, key, nil)
		m.CreatedAt = epoch.Add(-age)
		return m
	}
	if err := store.Enqueue(ctx, msg("orders", "1", 3*time.Second), msg("orders", "2", time.Second),
		msg("refunds", "3", 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	orders := attrName.String("orders")
	got := r.collect(t)
	wantGauge(t, got, "bulwark.outbox.backlog", "{message}", p(int64(3), orders))
	wantGauge(t, got, "bulwark.outbox.lag", "s", p(5.0, orders))
	wantGauge(t, got, "bulwark.outbox.dead_letters", "{message}", p(int64(0), orders))

	// Two published, one retried.
	if _, err := relay.ProcessBatch(ctx); err != nil {
		t.Fatal(err)
	}
	// After the retry interval, the second failure dead-letters it.
	clk.Advance(2 * time.Second)
	if res, err := relay.ProcessBatch(ctx); err != nil || res.DeadLettered != 1 {
		t.Fatalf("second batch: %+v, %v", res, err)
	}
	got = r.collect(t)
	toOrders := []attribute.KeyValue{orders, destination.String("orders")}
	failed := []attribute.KeyValue{orders, destination.String("refunds"), errorType.String("*otelbulwark_test.statusError")}
	wantCounter(t, got, "bulwark.outbox.published_messages", "{message}", p(int64(2), toOrders...))
	wantCounter(t, got, "bulwark.outbox.retried_messages", "{message}", p(int64(1), failed...))
	wantCounter(t, got, "bulwark.outbox.dead_lettered_messages", "{message}", p(int64(1), failed...))
	wantHistogram(t, got, "bulwark.outbox.publish_lag", map[attribute.Set][]float64{set(toOrders...): {3, 1}})
	wantGauge(t, got, "bulwark.outbox.backlog", "{message}", p(int64(0), orders))
	wantGauge(t, got, "bulwark.outbox.lag", "s", p(0.0, orders))
	wantGauge(t, got, "bulwark.outbox.dead_letters", "{message}", p(int64(1), orders))

	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	absent(t, r.collect(t), "bulwark.outbox.backlog", "bulwark.outbox.lag", "bulwark.outbox.dead_letters")
}

// failingStore is an outbox store whose Stats fails.
type failingStore struct{ *outbox.MemoryStore }

var errStats = errors.New("stats unavailable")

func (failingStore) Stats(context.Context) (outbox.Stats, error) { return outbox.Stats{}, errStats }

func TestObserveRelayReportsAFailedRead(t *testing.T) {
	r := newRig(t, false)
	relay, err := outbox.NewRelay(failingStore{outbox.NewMemoryStore()}, outbox.NewMemoryPublisher(), outbox.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := r.tel.ObserveRelay("orders", relay)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Unregister()
	err = r.collectErr()
	if !errors.Is(err, errStats) {
		t.Errorf("Collect: %v, want an error wrapping %v", err, errStats)
	}
}
