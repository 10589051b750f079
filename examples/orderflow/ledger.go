package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/saga"
)

// Check is one promise of the flow and whether the run kept it.
type Check struct {
	Promise string
	OK      bool
	Detail  string // the figures behind the verdict
}

// Ledger is the audit at the end of a run: the checks, and the figures the
// test looks at besides.
type Ledger struct {
	Checks      []Check
	Orders      int // orders the order service holds
	Completed   int
	Compensated int
	Declined    int // orders sent with the declined card
	Duplicates  int // sends that were copies of an earlier send
	Replayed    int // answers replayed from an idempotency record
	BreakerOpen int // times the inventory breaker opened
}

// OK reports whether every check passed.
func (l Ledger) OK() bool {
	for _, c := range l.Checks {
		if !c.OK {
			return false
		}
	}
	return len(l.Checks) > 0
}

// facts is what the audit reads from the services' own databases, the
// broker and the shop client, before judging anything.
type facts struct {
	// The shop: the keys it sent, the orders each send got back, and the
	// sends that never got one.
	keys    []string
	answers map[string][]string
	failed  []string

	// The order service: the orders per idempotency key, and order → key.
	ordersPerKey map[string]int
	orderKey     map[string]string

	// The outbox and the broker.
	backlog, outboxDeadLetters int
	streamMessages             int // distinct events (by ID) the broker took
	consumerDeadLetters        int // in the broker's dead letters of the processor

	// The saga log: each order's saga status.
	sagas map[string]saga.Status

	// The payment service: charges per idempotency key and per order.
	chargesPerKey   map[string]int
	chargesPerOrder map[string]int

	// The inventory service: each order's reservation state, the stock
	// now and the quantity shipped, per SKU.
	reservation map[string]string
	stock       map[string]int
	shipped     map[string]int

	// The notification service: notifications per order.
	notified map[string]int

	// The run's spans, and how many never ended (tracing.go).
	traces    []spanRecord
	openSpans int
}

// judge checks the flow's promises against the facts. It reads nothing
// else, so the test can hand it facts that break each promise.
func judge(f facts) []Check {
	var checks []Check
	check := func(promise string, ok bool, detail string, args ...any) {
		checks = append(checks, Check{Promise: promise, OK: ok, Detail: fmt.Sprintf(detail, args...)})
	}

	// Every order accepted once, however often it was sent.
	var twice, differing []string
	sends := 0
	for _, k := range f.keys {
		if f.ordersPerKey[k] != 1 {
			twice = append(twice, fmt.Sprintf("%s: %d orders", k, f.ordersPerKey[k]))
		}
		answers := f.answers[k]
		sends += len(answers)
		for _, a := range answers {
			if a != answers[0] {
				differing = append(differing, k)
				break
			}
		}
	}
	extra := len(f.ordersPerKey) - len(f.keys)
	check("every order accepted exactly once",
		len(twice) == 0 && len(differing) == 0 && len(f.failed) == 0 && extra == 0,
		"%d keys, %d sends: %d orders; keys without exactly one order: %s; keys answered with different orders: %s; sends that failed: %s",
		len(f.keys), sends, len(f.orderKey), list(twice), list(differing), list(f.failed))

	// Every event the order service wrote reached the broker.
	check("every outbox message delivered",
		f.backlog == 0 && f.outboxDeadLetters == 0 && f.streamMessages == len(f.orderKey),
		"%d orders, %d distinct events on the broker (a copy published again has its event's ID); %d pending in the outbox",
		len(f.orderKey), f.streamMessages, f.backlog)

	// Every saga at its end.
	statuses := map[saga.Status]int{}
	var missing []string
	for order := range f.orderKey {
		st, ok := f.sagas[order]
		if !ok {
			missing = append(missing, order)
		}
		statuses[st]++
	}
	check("every saga completed or compensated",
		len(missing) == 0 && statuses[saga.Completed]+statuses[saga.Compensated] == len(f.orderKey) && len(f.sagas) == len(f.orderKey),
		"%d completed, %d compensated, %d running, %d compensating, %d need attention; orders without a saga: %s",
		statuses[saga.Completed], statuses[saga.Compensated], statuses[saga.Running], statuses[saga.Compensating],
		statuses[saga.NeedsAttention]+statuses[saga.Abandoned], list(missing))

	// No card charged twice; every completed order charged once, every
	// declined one never.
	var double, wrong []string
	for k, n := range f.chargesPerKey {
		if n > 1 {
			double = append(double, fmt.Sprintf("%s: %d charges", k, n))
		}
	}
	charges := 0
	for order, st := range f.sagas {
		n := f.chargesPerOrder[order]
		charges += n
		if (st == saga.Completed) != (n == 1) || n > 1 {
			wrong = append(wrong, fmt.Sprintf("%s %s with %d charges", order, st, n))
		}
	}
	check("no card charged twice",
		len(double) == 0 && len(wrong) == 0,
		"%d charges for %d charge keys; keys charged twice: %s; orders charged wrongly: %s",
		charges, len(f.chargesPerKey), list(double), list(wrong))

	// Stock: what compensated orders reserved went back; what completed
	// orders reserved was shipped; stock now is the start less what shipped.
	var held, stockOff []string
	returned := 0
	for order, st := range f.sagas {
		r := f.reservation[order]
		switch {
		case st == saga.Compensated && (r == released || r == ""):
			returned++
		case st == saga.Completed && r == shipped:
		default:
			held = append(held, fmt.Sprintf("%s %s with its reservation %q", order, st, r))
		}
	}
	for _, sku := range skus {
		if f.stock[sku] != startStock-f.shipped[sku] {
			stockOff = append(stockOff, fmt.Sprintf("%s: %d in stock, %d shipped", sku, f.stock[sku], f.shipped[sku]))
		}
	}
	check("inventory back to its start for compensated orders",
		len(held) == 0 && len(stockOff) == 0,
		"%d compensated orders' stock released; stock = %d − shipped for every SKU; orders holding stock wrongly: %s; SKUs off: %s",
		returned, startStock, list(held), list(stockOff))

	// Customers told once about each completed order, never about a
	// compensated one.
	var notes []string
	for order, st := range f.sagas {
		if n := f.notified[order]; (st == saga.Completed) != (n == 1) || n > 1 {
			notes = append(notes, fmt.Sprintf("%s %s notified %d times", order, st, n))
		}
	}
	check("every completed order notified once", len(notes) == 0,
		"%d notifications; orders notified wrongly: %s", sum(f.notified), list(notes))

	check("nothing left in a dead letter",
		f.outboxDeadLetters == 0 && f.consumerDeadLetters == 0 && statuses[saga.NeedsAttention]+statuses[saga.Abandoned] == 0,
		"%d outbox dead letters, %d processor dead letters, %d sagas needing attention",
		f.outboxDeadLetters, f.consumerDeadLetters, statuses[saga.NeedsAttention]+statuses[saga.Abandoned])
	return checks
}

func list(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	slices.Sort(items)
	if len(items) > 5 {
		return strings.Join(items[:5], "; ") + fmt.Sprintf("; and %d more", len(items)-5)
	}
	return strings.Join(items, "; ")
}

func sum(m map[string]int) int {
	n := 0
	for v := range maps.Values(m) {
		n += v
	}
	return n
}

// newLedger sums the run up: the checks, and the figures the test reads.
func newLedger(f facts, sends []send, count *counters) Ledger {
	l := Ledger{Checks: append(judge(f), traceCheck(f)), Orders: len(f.orderKey), Replayed: int(count.replayed.Load()),
		BreakerOpen: int(count.opened[svcInventory].Load())}
	for _, st := range f.sagas {
		switch st {
		case saga.Completed:
			l.Completed++
		case saga.Compensated:
			l.Compensated++
		}
	}
	for _, s := range sends {
		if s.req.Card == declinedCard {
			l.Declined++
		}
		if s.twice {
			l.Duplicates++
		}
		if s.again {
			l.Duplicates++
		}
	}
	return l
}

// printLedger prints the checks, and the verdict.
func printLedger(s *story, l Ledger) {
	s.plain("\nThe ledger, from the services' own databases, the broker and the shop:\n")
	for _, c := range l.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		s.plain("  [%s] %s\n         %s\n", mark, c.Promise, c.Detail)
	}
	if l.OK() {
		s.plain("\nEvery promise kept: %d orders, %d completed and %d compensated (%d declined cards), despite %d duplicate sends, events published twice, lost acks, a flaky payment service, an inventory outage and slow notifications.\n",
			l.Orders, l.Completed, l.Compensated, l.Declined, l.Duplicates)
	} else {
		s.plain("\nA promise was broken: see FAIL above.\n")
	}
}

// audit gathers the facts from every party.
func audit(ctx context.Context, fl *flow) (facts, error) {
	f := facts{
		ordersPerKey: map[string]int{}, orderKey: map[string]string{},
		sagas: map[string]saga.Status{}, chargesPerKey: map[string]int{}, chargesPerOrder: map[string]int{},
		reservation: map[string]string{}, stock: map[string]int{}, shipped: map[string]int{}, notified: map[string]int{},
	}
	for _, s := range fl.sends {
		f.keys = append(f.keys, s.key)
	}
	fl.shop.mu.Lock()
	f.answers = maps.Clone(fl.shop.answers)
	f.failed = slices.Clone(fl.shop.failed)
	fl.shop.mu.Unlock()
	f.traces, f.openSpans = fl.tracing.recorded(ctx, 5*time.Second)

	err := query(ctx, fl.orders.db, `SELECT id, idempotency_key FROM orders`, func(scan func(...any) error) error {
		var id, key string
		if err := scan(&id, &key); err != nil {
			return err
		}
		f.orderKey[id] = key
		f.ordersPerKey[key]++
		return nil
	})
	if err != nil {
		return f, err
	}
	stats, err := fl.relay.Stats(ctx)
	if err != nil {
		return f, err
	}
	f.backlog, f.outboxDeadLetters = stats.Backlog, stats.DeadLetters
	if f.streamMessages, err = fl.broker.messages(ctx); err != nil {
		return f, err
	}
	if f.consumerDeadLetters, err = fl.broker.deadLetters(ctx); err != nil {
		return f, err
	}
	snaps, err := fl.processor.orch.List(ctx, saga.ListQuery{})
	if err != nil {
		return f, err
	}
	for _, s := range snaps {
		f.sagas[s.ID] = s.Status
	}
	err = query(ctx, fl.payments.db, `SELECT idempotency_key, order_id FROM charges`, func(scan func(...any) error) error {
		var key, order string
		if err := scan(&key, &order); err != nil {
			return err
		}
		f.chargesPerKey[key]++
		f.chargesPerOrder[order]++
		return nil
	})
	if err != nil {
		return f, err
	}
	err = query(ctx, fl.inventory.db, `SELECT order_id, sku, qty, state FROM reservations`, func(scan func(...any) error) error {
		var order, sku, state string
		var qty int
		if err := scan(&order, &sku, &qty, &state); err != nil {
			return err
		}
		f.reservation[order] = state
		if state == shipped {
			f.shipped[sku] += qty
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	err = query(ctx, fl.inventory.db, `SELECT sku, available FROM stock`, func(scan func(...any) error) error {
		var sku string
		var n int
		if err := scan(&sku, &n); err != nil {
			return err
		}
		f.stock[sku] = n
		return nil
	})
	if err != nil {
		return f, err
	}
	err = query(ctx, fl.notifications.db, `SELECT order_id FROM notifications`, func(scan func(...any) error) error {
		var order string
		if err := scan(&order); err != nil {
			return err
		}
		f.notified[order]++
		return nil
	})
	return f, err
}

// query runs q on db and calls row for each row with its Scan.
func query(ctx context.Context, db *database, q string, row func(scan func(...any) error) error) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
