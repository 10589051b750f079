package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/chaos"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/bulwark-go/bulwark/saga"
	"go.uber.org/goleak"
)

// startTestProcessor starts an embedded NATS broker and a processor on
// SQLite whose downstream services answer every request with 503. It
// returns the story told so far.
func startTestProcessor(t *testing.T, phase time.Duration) (*natsBroker, *processor, func() string) {
	t.Helper()
	b, p, told, _ := startTestProcessorOn(t, phase, Options{})
	return b.(*natsBroker), p, told
}

// startTestProcessorOn is startTestProcessor on the broker o names. It
// also returns a function that starts another processor on the same
// broker and database, as a restart would, counting into count.
func startTestProcessorOn(t *testing.T, phase time.Duration, o Options) (broker, *processor, func() string, func(count *counters) *processor) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the cleanups below
	ctx := context.Background()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	o.Dir = t.TempDir()
	st := &sqliteStorage{dir: o.Dir}
	t.Cleanup(func() { _ = st.close() })
	db, err := st.open(ctx, "processor")
	if err != nil {
		t.Fatal(err)
	}
	b, err := startBroker(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	var out strings.Builder
	story := newStory(&out)
	reg, err := newRegistry(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range downstreamNames {
		if _, err := reg.register(name, down.URL); err != nil {
			t.Fatal(err)
		}
	}
	count := &counters{}
	p, err := startProcessor(ctx, st, db, b, nil, "", reg.resolver(), testPolicies(t, phase, story, count), 1, phase, story, count)
	if err != nil {
		t.Fatal(err)
	}
	again := func(count *counters) *processor {
		t.Helper()
		p, err := startProcessor(ctx, st, db, b, nil, "", reg.resolver(), testPolicies(t, phase, story, count), 1, phase, story, count)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return b, p, func() string {
		story.mu.Lock()
		defer story.mu.Unlock()
		return out.String()
	}, again
}

// testPolicies returns the processor's policies as the flow starts with
// them, counting into count.
func testPolicies(t *testing.T, phase time.Duration, story *story, count *counters) *policyset.Set {
	t.Helper()
	fns, err := downstreamFunctions()
	if err != nil {
		t.Fatal(err)
	}
	set, err := policyset.New(processorSettings(phase, notifyTimeoutBefore), policyset.Config{
		Name: "processor", Functions: fns, Observer: downstreamObserver(story, count),
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestProcessorDeadLettersUnreadableEvents: an event no delivery can make
// readable is dead-lettered to the DEAD stream at once (where the ledger
// counts it), and starts no saga.
func TestProcessorDeadLettersUnreadableEvents(t *testing.T) {
	b, p, told := startTestProcessor(t, time.Second)
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, payload := range []string{"not json", `{"client": "web", "sku": "tea"}`} {
		if _, err := b.js.Publish(ctx, "orders.created", []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	for {
		letters, err := b.letters.List(ctx, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		// The story tells a dead letter once it is stored.
		if len(letters) == 2 && strings.Count(told(), "processor: gave up on message") == 2 {
			for _, l := range letters {
				if l.Err == nil || !strings.Contains(l.Err.Error(), "an unreadable event") || len(l.Attempts) != 1 {
					t.Errorf("letter %d: error %v after %d runs; want an unreadable event, after 1 run", l.Seq, l.Err, len(l.Attempts))
				}
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d dead letters, want 2; the story:\n%s", len(letters), told())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sagas, err := p.orch.List(ctx, saga.ListQuery{}); err != nil || len(sagas) != 0 {
		t.Errorf("%d sagas (%v), want none", len(sagas), err)
	}
}

// TestProcessorCloseLeavesSagasToResume: closing the processor while a
// saga waits for a service that is down neither compensates the saga nor
// acknowledges or dead-letters its message: the saga is left running in
// its log, its message unacknowledged, for another instance to resume.
func TestProcessorCloseLeavesSagasToResume(t *testing.T) {
	b, p, told := startTestProcessor(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := natsoutbox.New(b.js, natsoutbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(orderEvent{OrderID: "order-0001", Client: "web", orderRequest: orderRequest{SKU: "tea", Qty: 1, Cents: 500, Card: "4242"}})
	if err := pub.Publish(ctx, outbox.NewMessage("orders.created", "order-0001", payload)); err != nil {
		t.Fatal(err)
	}
	for {
		snaps, err := p.orch.List(ctx, saga.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the saga did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a few failed reservations
	start := time.Now()
	p.close()
	// The orchestrator's Close waits up to 10s for the reservation in
	// flight, which waits out the inventory's breaker.
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("close took %v; the story:\n%s", d, told())
	}

	snap, err := p.orch.Get(ctx, "order-0001")
	if err != nil || snap.Status != saga.Running {
		t.Errorf("saga %+v (%v), want it running, for another instance to resume", snap, err)
	}
	cons, err := b.js.Consumer(ctx, "ORDERS", "order-processor")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Stream != 1 || info.AckFloor.Stream != 0 {
		t.Errorf("delivered up to %d, acknowledged up to %d; want the message delivered and not acknowledged", info.Delivered.Stream, info.AckFloor.Stream)
	}
	if letters, err := b.letters.List(ctx, 1, 10); err != nil || len(letters) != 0 {
		t.Errorf("%d dead letters (%v), want none", len(letters), err)
	}
	if story := told(); strings.Contains(story, "↺") || strings.Contains(story, "gave up") {
		t.Errorf("the story:\n%s", story)
	}
}

// TestLostAcksAreDeliveredAgain: a lost ack fails, and the message is
// delivered again at once; the deliveries are counted.
func TestLostAcksAreDeliveredAgain(t *testing.T) {
	ctx := context.Background()
	for _, lost := range []bool{true, false} {
		rate := 0.0
		if lost {
			rate = 1
		}
		lose, err := chaos.New(chaos.Config{Faults: chaos.Faults{ErrorRate: rate}})
		if err != nil {
			t.Fatal(err)
		}
		q := consume.NewMemoryQueue(nil)
		q.Publish(consume.Message{ID: "m1", Key: "order-0001"})
		count := &counters{}
		src := lossySource{q.Source(), lose, count}
		ds, err := src.Receive(ctx, 10)
		if err != nil || len(ds) != 1 {
			t.Fatalf("received %d (%v)", len(ds), err)
		}
		err = ds[0].Ack(ctx)
		if lost != errors.Is(err, chaos.ErrInjected) || q.Acked() != map[bool]int{true: 0, false: 1}[lost] {
			t.Fatalf("lost %v: Ack returned %v, %d acknowledged", lost, err, q.Acked())
		}
		if !lost {
			continue
		}
		if ds, err = src.Receive(ctx, 10); err != nil || len(ds) != 1 || ds[0].Message().ID != "m1" || ds[0].Message().Attempt != 2 {
			t.Fatalf("after a lost ack received %d (%v), want m1 again", len(ds), err)
		}
		if n := count.delivered.Load(); n != 2 {
			t.Errorf("%d deliveries counted, want 2", n)
		}
		_ = src.Close(ctx)
	}
}

// TestDeadLettersAreCountedOnEveryBroker: on each broker (embedded NATS,
// the NATS server BULWARK_NATS_URL names, kfake, RabbitMQ), unreadable
// events are dead-lettered at once and the broker counts exactly those
// letters (what the ledger reads), and counts each event the relay's
// publisher sent, a copy published again with the same ID once.
func TestDeadLettersAreCountedOnEveryBroker(t *testing.T) {
	for _, kind := range []string{brokerNATS, "nats-server", brokerKafka, brokerRabbitMQ} {
		t.Run(kind, func(t *testing.T) {
			o := Options{Broker: kind}
			switch kind {
			case "nats-server":
				o = Options{Broker: brokerNATS, NATS: testenv.NATSURL(t)}
			case brokerRabbitMQ:
				o.RabbitMQ = testenv.RabbitMQURL(t)
			}
			b, p, told, _ := startTestProcessorOn(t, time.Second, o)
			defer p.close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pub, err := b.publisher()
			if err != nil {
				t.Fatal(err)
			}
			bad := []outbox.Message{
				outbox.NewMessage("orders.created", "order-0001", []byte("not json")),
				outbox.NewMessage("orders.created", "order-0002", []byte(`{"client": "web", "sku": "tea"}`)),
			}
			for _, m := range append(bad, bad[0]) { // the first one twice
				if err := pub.Publish(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			for {
				n, err := b.deadLetters(ctx)
				if err != nil {
					t.Fatal(err)
				}
				// The copy of the first event is dead-lettered too, or
				// skipped by the inbox, or dropped by the broker: two
				// or three letters, and the story tells each one.
				if told := strings.Count(told(), "processor: gave up on message"); n >= 2 && told == n {
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("%d dead letters, want 2 or 3; the story:\n%s", n, told())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n, err := b.messages(ctx); err != nil || n != 2 {
				t.Errorf("the broker counts %d distinct events (%v), want 2", n, err)
			}
			if sagas, err := p.orch.List(ctx, saga.ListQuery{}); err != nil || len(sagas) != 0 {
				t.Errorf("%d sagas (%v), want none", len(sagas), err)
			}
		})
	}
}

// TestRestartedProcessorGetsUnfinishedMessages: on Kafka and RabbitMQ (the
// NATS consumer's state is checked by TestProcessorCloseLeavesSagasToResume),
// a processor closed while a saga waits for a service that is down leaves
// the saga unfinished and its message unacknowledged, and a processor started
// in its place on the same broker is delivered the message again: nothing
// is lost across a restart.
func TestRestartedProcessorGetsUnfinishedMessages(t *testing.T) {
	for _, kind := range []string{brokerKafka, brokerRabbitMQ} {
		t.Run(kind, func(t *testing.T) {
			o := Options{Broker: kind}
			if kind == brokerRabbitMQ {
				o.RabbitMQ = testenv.RabbitMQURL(t)
			}
			b, p, told, again := startTestProcessorOn(t, 2*time.Second, o)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			pub, err := b.publisher()
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(orderEvent{OrderID: "order-0001", Client: "web", orderRequest: orderRequest{SKU: "tea", Qty: 1, Cents: 500, Card: "4242"}})
			if err := pub.Publish(ctx, outbox.NewMessage("orders.created", "order-0001", payload)); err != nil {
				t.Fatal(err)
			}
			for {
				if snaps, err := p.orch.List(ctx, saga.ListQuery{}); err != nil {
					t.Fatal(err)
				} else if len(snaps) == 1 {
					break
				}
				if ctx.Err() != nil {
					t.Fatal("the saga did not start")
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // a few failed reservations
			p.close()
			// The reservation's retries run on to their end (4 phases)
			// before Close has the saga stop: it may be compensating
			// by then, but not finished.
			if snap, err := p.orch.Get(ctx, "order-0001"); err != nil || snap.Status.Terminal() {
				t.Fatalf("saga %+v (%v), want it unfinished, for another instance to resume", snap, err)
			}

			count := &counters{}
			p2 := again(count)
			defer p2.close()
			for count.delivered.Load() == 0 {
				if ctx.Err() != nil {
					t.Fatalf("the restarted processor was not delivered the unfinished message; the story:\n%s", told())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if n, err := b.deadLetters(ctx); err != nil || n != 0 {
				t.Errorf("%d dead letters (%v), want none", n, err)
			}
		})
	}
}
